/**
 * `gradcam audit` on a small labelled dataset (class-named folders of shared images, built in a temp
 * folder): the HTML opens offline in headless Chromium, every image is inlined and decodes, the
 * sections and the misclassified image are there; a screenshot goes to test-output/audit/.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { classify, type ExplainableModel } from '../src/index.js';
import { borderShare } from '../src/metrics/index.js';
import { readImage } from '../src/node/image.js';
import { audit } from '../src/report/audit.js';
import { launchChromium } from '../web/serve.js';
import { MODEL_025, REPO_ROOT, model, runCli, sharedImage } from './helpers.js';

describe('audit (library)', () => {
  it('explains each image once, groups by predicted class, sorts by border share, averages the maps, scores the same maps', async () => {
    const m = await model(MODEL_025);
    const files = ['chelsea.png', 'cat_dog.jpg', 'both.png', 'coffee.png', 'dogs.png', 'squirrel_cls.jpg'];
    const images = await Promise.all(files.map((f) => readImage(sharedImage(f))));
    const preds = await classify(m, images, 1);
    // Labels: the true top-1 for some, a wrong class for cat_dog (index 1), none for the last.
    const truth = preds.map((p, i) => (i === 1 ? 281 : i === 5 ? undefined : p[0].classIndex));
    let splits = 0;
    const counting = new Proxy(m, {
      get(t, k) {
        if (k === 'split') return (...a: Parameters<ExplainableModel['split']>) => { splits++; return t.split(...a); };
        const v = Reflect.get(t, k) as unknown;
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
    const items = files.map((name, i) => ({ name, image: images[i], trueClass: truth[i] }));
    const before = tf.memory().numTensors;
    const r = await audit(counting, items, { batchSize: 4, metrics: [] });
    expect(tf.memory().numTensors).toBe(before);
    expect(splits).toBe(2); // one forward to the layer per batch of 4: each image explained once
    expect(r.metrics).toBeUndefined();
    expect(r.accuracy).toEqual({ correct: 4, total: 5 });
    expect(r.misclassified.map((e) => [e.name, e.truth?.classIndex])).toEqual([['cat_dog.jpg', 281]]);
    expect(r.groups.flatMap((g) => g.entries).length).toBe(files.length);
    for (const g of r.groups) {
      expect(g.entries.every((e) => e.predicted.classIndex === g.classIndex && e.predicted.classIndex === preds[e.item][0].classIndex)).toBe(true);
      const borders = g.entries.map((e) => e.border);
      expect(borders).toEqual([...borders].sort((a, b) => b - a));
      g.entries.forEach((e) => expect(e.border).toBeCloseTo(borderShare(e.predicted.heatmap), 6));
      const mean = g.entries[0].predicted.cam.data.map((_, i) => g.entries.reduce((s, e) => s + e.predicted.cam.data[i], 0) / g.entries.length);
      const max = Math.max(...mean);
      g.meanMap.data.forEach((v, i) => expect(v).toBeCloseTo(mean[i] / max, 5));
    }
    // Sorting is exercised: some class holds two or more images with different border shares.
    expect(r.groups.some((g) => g.entries.length > 1 && g.entries[0].border > g.entries.at(-1)!.border)).toBe(true);

    // With metrics, the method's row scores exactly the maps shown (no second explanation of them).
    const withMetrics = await audit(m, items.slice(0, 2), { metrics: ['confidence'] });
    const row = withMetrics.metrics!.methods[0];
    expect(row.cases.map((c) => [c.classIndex, c.peak])).toEqual(withMetrics.entries.map((e) => [e.predicted.classIndex, e.predicted.peak]));
    expect(withMetrics.metrics!.methods.map((x) => x.method)).toEqual(['gradcam', 'random', 'centre']);
  });
});

describe('gradcam audit', () => {
  it('writes a self-contained HTML report that opens offline', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gradcam-audit-'));
    const data = path.join(dir, 'data');
    for (const [cls, files] of [['tabby', ['chelsea.png', 'cat_dog.jpg']], ['espresso', ['coffee.png']], ['fox squirrel', ['squirrel_cls.jpg']], ['not a class', ['dogs.png']]] as const) {
      mkdirSync(path.join(data, cls), { recursive: true });
      for (const f of files) copyFileSync(sharedImage(f), path.join(data, cls, f));
    }
    writeFileSync(path.join(data, 'tabby', 'broken.jpg'), 'not an image');
    const out = path.join(dir, 'report');
    const r = await runCli(['audit', data, '--model', MODEL_025, '--out', out, '--steps', '4', '--batch', '3']);
    expect(r.stderr).toMatch(/error: .*broken\.jpg: not an image/);
    expect(r.code).toBe(1); // the bad file; everything else is in the report
    const html = readFileSync(path.join(out, 'index.html'), 'utf8');
    expect(html).not.toMatch(/(src|href)="(https?:|\/\/|file:)/); // nothing external

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const requests: string[] = [];
      page.on('request', (req) => { if (!req.url().startsWith('data:') && !req.url().startsWith('file:')) requests.push(req.url()); });
      await page.goto(`file://${path.join(out, 'index.html')}`);
      const info = await page.evaluate(() => ({
        images: [...document.images].map((i) => ({ ok: i.complete && i.naturalWidth > 0, data: i.src.startsWith('data:image/') })),
        headings: [...document.querySelectorAll('h3')].map((h) => h.textContent ?? ''),
        misclassified: document.querySelector('#misclassified')?.textContent ?? '',
        pairs: [...document.querySelectorAll('.pair')].map((p) => p.textContent ?? ''),
        table: [...document.querySelectorAll('table tr')].map((tr) => tr.textContent ?? ''),
        borders: [...document.querySelectorAll('section.cls')].map((sec) => [...sec.querySelectorAll('figure:not(.mean) figcaption')]
          .map((f) => Number(/border (\d+) %/.exec(f.textContent ?? '')?.[1]))),
        text: document.body.innerText,
      }));
      expect(requests).toEqual([]);
      // 5 images: one thumbnail each, one mean map per predicted class, two maps per misclassified image.
      expect(info.images.length).toBeGreaterThanOrEqual(5 + info.headings.length);
      expect(info.images.every((i) => i.ok && i.data)).toBe(true);
      // The accuracy is the share of labelled images whose top-1 class is their folder's (dogs.png's folder names no class).
      const m = await model(MODEL_025);
      const labelled = { 'chelsea.png': 281, 'cat_dog.jpg': 281, 'coffee.png': 967, 'squirrel_cls.jpg': 335 };
      const top = await classify(m, await Promise.all(Object.keys(labelled).map((f) => readImage(sharedImage(f)))), 1);
      const correct = Object.values(labelled).filter((c, i) => top[i][0].classIndex === c).length;
      expect(info.text).toContain(`accuracy ${correct}/4 (labels from folder names)`);
      // Within each class, thumbnails come sorted by border share, largest first.
      for (const shares of info.borders) expect(shares).toEqual([...shares].sort((a, b) => b - a));
      expect(info.headings.some((h) => /cat/i.test(h))).toBe(true);
      // cat_dog.jpg (folder "tabby") is predicted as a dog: shown with the dog's and the tabby's maps.
      expect(info.misclassified).toMatch(/Misclassified \([1-9]\)/);
      const pair = info.pairs.find((p) => p.includes('cat_dog.jpg'));
      expect(pair).toMatch(/true tabby, tabby cat/);
      expect(info.table[0]).toMatch(/Deletion AUC/);
      expect(info.table.some((t) => /^Grad-CAM/.test(t))).toBe(true);
      expect(info.table.some((t) => /random map/.test(t))).toBe(true);
      mkdirSync(path.join(REPO_ROOT, 'test-output', 'audit'), { recursive: true });
      await page.screenshot({ path: path.join(REPO_ROOT, 'test-output', 'audit', 'audit.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 240_000);
});

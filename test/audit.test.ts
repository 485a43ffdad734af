/**
 * `gradcam audit` on a small labelled dataset (class-named folders of shared images, built in a temp
 * folder): the HTML opens offline in headless Chromium, every image is inlined and decodes, the
 * sections and the misclassified image are there; a screenshot goes to test-output/audit/.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchChromium } from '../web/serve.js';
import { MODEL_025, REPO_ROOT, runCli, sharedImage } from './helpers.js';

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
        text: document.body.innerText,
      }));
      expect(requests).toEqual([]);
      // 5 images: one thumbnail each, one mean map per predicted class, two maps per misclassified image.
      expect(info.images.length).toBeGreaterThanOrEqual(5 + info.headings.length);
      expect(info.images.every((i) => i.ok && i.data)).toBe(true);
      expect(info.text).toMatch(/accuracy \d\/4 \(labels from folder names\)/); // dogs.png's folder names no class
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

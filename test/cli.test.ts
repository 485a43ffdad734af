/** The CLI on real files: outputs, bad inputs that must not lose the batch, broken models, URL loading with a cache. */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../src/node/backend.js';
import { loadModel } from '../src/node/load.js';
import { hugePng, MODEL_025, REPO_ROOT, runCli, sharedImage, SHARED_DIR } from './helpers.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'gradcam-cli-'));



describe('gradcam explain', () => {
  it('writes JSON + overlays for good images and one clear line per bad file, exiting non-zero', async () => {
    const dir = tmp();
    const input = path.join(dir, 'in');
    const out = path.join(dir, 'out');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(input);
    copyFileSync(sharedImage('cat_dog.jpg'), path.join(input, 'a_cat_dog.jpg'));
    copyFileSync(sharedImage('chelsea.png'), path.join(input, 'z_chelsea.png'));
    writeFileSync(path.join(input, 'empty.jpg'), '');
    writeFileSync(path.join(input, 'notes.png'), 'this is not an image');
    writeFileSync(path.join(input, 'truncated.jpg'), readFileSync(sharedImage('cat_dog.jpg')).subarray(0, 20_000));
    writeFileSync(path.join(input, 'huge.png'), hugePng());
    const missing = path.join(dir, 'missing.jpg');

    const r = await runCli(['explain', input, missing, '--model', MODEL_025, '--class', 'tiger cat', '--class', '243', '--out', out, '--batch', '3']);
    expect(r.code).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
    const lineFor = (name: string) => errors.find((l) => l.includes(name));
    expect(lineFor('empty.jpg')).toMatch(/empty file/);
    expect(lineFor('notes.png')).toMatch(/not an image/);
    expect(lineFor('truncated.jpg')).toMatch(/truncated or corrupt/);
    expect(lineFor('huge.png')).toMatch(/unusable image size 100000×100000/);
    expect(lineFor('missing.jpg')).toMatch(/no such file/);
    expect(errors.length).toBe(5);

    const files = readdirSync(out).sort();
    for (const stem of ['a_cat_dog', 'z_chelsea']) {
      for (const f of [`${stem}.json`, `${stem}.282.png`, `${stem}.282.heatmap.png`, `${stem}.243.png`]) expect(files).toContain(f);
    }
    const json = JSON.parse(readFileSync(path.join(out, 'a_cat_dog.json'), 'utf8'));
    expect(json).toMatchObject({ width: 640, height: 480, method: 'gradcam', layer: 'conv_pw_13_relu', model: MODEL_025 });
    expect(json.image).toContain('a_cat_dog.jpg');
    const [cat, dog] = json.targets;
    expect([cat.classIndex, cat.className, dog.classIndex]).toEqual([282, 'tiger cat', 243]);
    expect(cat.cam.length).toBe(7);
    expect(cat.cam[0].length).toBe(7);
    expect(Math.max(...cat.cam.flat())).toBeCloseTo(1, 5);
    expect(Math.min(...cat.cam.flat())).toBe(0);
    expect(cat.peak.y).toBeGreaterThan(240);
    expect(typeof cat.logit).toBe('number');
    expect(cat.probability).toBeGreaterThan(0);
  });

  it('explains the top k and rejects an unknown class before reading images', async () => {
    const out = path.join(tmp(), 'out');
    const ok = await runCli(['explain', sharedImage('coffee.png'), '--model', MODEL_025, '--top', '3', '--out', out]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(out, 'coffee.json'), 'utf8')).targets.length).toBe(3);
    const bad = await runCli(['explain', sharedImage('coffee.png'), '--model', MODEL_025, '--class', 'espreso', '--out', out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(`error: unknown class 'espreso': valid names are the model's labels (e.g. "tench, Tinca tinca"), or an index 0–999`);
    // A near miss gets the suggestion itself.
    const near = await runCli(['explain', sharedImage('coffee.png'), '--model', MODEL_025, '--class', 'espress', '--out', out]);
    expect(near.stderr.trim()).toBe(`error: unknown class 'espress': did you mean 550 "espresso maker", 967 "espresso"?`);
    // Bad target strings say which forms are valid.
    const form = await runCli(['explain', sharedImage('coffee.png'), '--model', MODEL_025, '--target', 'contrast:967', '--out', out]);
    expect(form.code).toBe(2);
    expect(form.stderr.trim()).toMatch(/^error: bad target 'contrast:967': expected contrast:A-B .*; valid target forms: <class index>, "<class name>", contrast:A-B, segment:C, output:I, similar:<image>, prob:C, neg:C, binary:positive\|negative/);
    expect(bad.stderr.trim().split('\n').length).toBe(1);
  });
});

describe('gradcam explain --target / --layer', () => {
  it('explains contrast and similarity targets at two fused layers, each described in the JSON', async () => {
    const out = path.join(tmp(), 'out');
    const r = await runCli(['explain', sharedImage('cat_dog.jpg'), '--model', MODEL_025, '--target', 'contrast:282-243', '--target', 'contrast:bull mastiff-tiger cat',
      '--target', `similar:${sharedImage('chelsea.png')}`, '--layer', 'conv_pw_11_relu', '--layer', 'conv_pw_13_relu', '--out', out]);
    expect(r.stderr).not.toMatch(/error|warning/);
    expect(r.code).toBe(0);
    const json = JSON.parse(readFileSync(path.join(out, 'cat_dog.json'), 'utf8'));
    expect([json.layer, json.layers]).toEqual(['conv_pw_11_relu+conv_pw_13_relu', ['conv_pw_11_relu', 'conv_pw_13_relu']]);
    const [catVsDog, dogVsCat, similar] = json.targets;
    expect(catVsDog.target).toBe('contrast 282 "tiger cat" − 243 "bull mastiff"');
    expect(dogVsCat.target).toBe('contrast 243 "bull mastiff" − 282 "tiger cat"');
    expect(catVsDog.score).toBeCloseTo(-dogVsCat.score, 4);
    expect(catVsDog.peak.y).toBeGreaterThan(240); // the cat lies across the lower half
    expect(dogVsCat.peak.y).toBeLessThan(240);
    expect(similar.target).toBe(`similarity to ${sharedImage('chelsea.png')}`);
    expect(similar.score).toBeGreaterThan(0);
    expect(similar.score).toBeLessThan(1);
    expect(similar.classIndex).toBeUndefined();
    expect([json.targets[0].cam.length, json.targets[0].cam[0].length]).toEqual([14, 14]); // fused at the finer layer
    for (const key of ['contrast-282-243', 'contrast-243-282', `similarity-to-${sharedImage('chelsea.png').replace(/[^\w.]+/g, '-').replace(/^-+|-+$/g, '').toLowerCase()}`]) {
      expect(existsSync(path.join(out, `cat_dog.${key}.png`)), key).toBe(true);
    }
  });
});

describe('the README example', () => {
  it('runs as written and writes the two overlays', async () => {
    const cwd = tmp();
    const r = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile('node', ['--import', import.meta.resolve('tsx'), path.join(REPO_ROOT, 'examples/explain.ts'), sharedImage('cat_dog.jpg'), MODEL_025], { cwd },
        (err, stdout) => resolve({ code: err ? 1 : 0, stdout }));
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^tiger cat: logit [\d.]+, p=[\d.]+, peak at \(\d+, \d+\)/m);
    expect(existsSync(path.join(cwd, 'example.282.png'))).toBe(true);
    expect(existsSync(path.join(cwd, 'example.243.png'))).toBe(true);
  });
});

describe('broken models', () => {
  it('names model.json when it is not JSON, and the shard when one is missing or short', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'model.json'), '{"modelTopology": ');
    const a = await runCli(['classify', sharedImage('coffee.png'), '--model', dir]);
    expect(a.code).toBe(2);
    expect(a.stderr.trim()).toBe(`error: ${path.join(dir, 'model.json')}: model.json is not valid JSON (${a.stderr.split('(')[1].split(')')[0]})`);

    const dir2 = tmp();
    copyFileSync(path.join(MODEL_025, 'model.json'), path.join(dir2, 'model.json'));
    const b = await runCli(['classify', sharedImage('coffee.png'), '--model', dir2]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(new RegExp(`error: ${path.join(dir2, 'group1-shard1of1')}: weight file listed in model.json is missing`));

    const dir3 = tmp();
    for (const f of readdirSync(MODEL_025)) copyFileSync(path.join(MODEL_025, f), path.join(dir3, f));
    writeFileSync(path.join(dir3, 'group29-shard1of1'), readFileSync(path.join(MODEL_025, 'group29-shard1of1')).subarray(0, 1000));
    const c = await runCli(['layers', '--model', dir3]);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/truncated or mismatched shards/);
  });
});

describe('gradcam layers and classify', () => {
  it('lists 4-D layers with shapes and marks the automatic choice', async () => {
    const r = await runCli(['layers', '--model', MODEL_025]);
    expect(r.code).toBe(0);
    const auto = r.stdout.split('\n').find((l) => l.includes('← auto'));
    expect(auto).toMatch(/^conv_pw_13_relu\s+Activation\s+\[7,7,256\]/);
    expect(r.stdout).toMatch(/conv1\s+Conv2D\s+\[112,112,8\]/);
  });

  it('prints the top-5 with probabilities', async () => {
    const r = await runCli(['classify', sharedImage('coffee.png'), '--model', MODEL_025, '--json']);
    expect(r.code).toBe(0);
    const preds = JSON.parse(r.stdout)[sharedImage('coffee.png')];
    expect(preds.length).toBe(5);
    expect(preds[0].className).toBe('espresso');
  });
});

describe('models from a URL', () => {
  it('downloads model.json, shards and metadata once into the cache, then loads offline', async () => {
    const root = path.join(SHARED_DIR, 'models');
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
      requests.push(req.url!);
      const file = path.join(root, decodeURIComponent(req.url!.split('?')[0]));
      if (!file.startsWith(root) || !existsSync(file)) { res.statusCode = 404; res.end(); return; }
      res.end(readFileSync(file));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const url = `http://127.0.0.1:${port}/mobilenet_v1_0.25_224/model.json`;
    const cache = tmp();
    process.env.GRADCAM_CACHE = cache;
    try {
      await initBackend('wasm');
      const m = await loadModel(url);
      expect(m.source).toBe(url);
      expect(m.labels[282]).toBe('tiger cat'); // from the downloaded metadata.json
      expect(requests).toContain('/mobilenet_v1_0.25_224/group29-shard1of1');
      await new Promise((r) => server.close(r));
      const again = await loadModel(url); // the server is gone: served from the cache
      expect(again.defaultLayer).toBe('conv_pw_13_relu');
      m.dispose();
      again.dispose();
      const bad = loadModel(`http://127.0.0.1:${port}/nothing/model.json`);
      await expect(bad).rejects.toThrow(/cannot download/);
    } finally {
      delete process.env.GRADCAM_CACHE;
      server.close();
    }
  });
});

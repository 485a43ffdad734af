/** `gradcam eval` on shared images with the α=0.25 model: outputs, classes from boxes/groups/--class, bad input. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODEL_025, runCli, sharedImage } from './helpers.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'gradcam-eval-'));
const FAST = ['--model', MODEL_025, '--steps', '4', '--road-percentages', '50'];
const GROUPS = { dog: Array.from({ length: 118 }, (_, i) => 151 + i), cat: [281, 282, 283, 284, 285] };

describe('gradcam eval', () => {
  it('writes eval.md, eval.json and curves.svg with every metric per method and baseline; a bad file is named, the rest evaluated', async () => {
    const dir = tmp();
    const boxes = path.join(dir, 'boxes.json');
    writeFileSync(boxes, JSON.stringify({
      'both.png': { dog: [[75, 10, 165, 125]], cat: [[40, 120, 205, 223]] }, 'chelsea.png': { 'tabby cat': [[0, 0, 430, 299]] }, groups: GROUPS,
    }));
    const out = path.join(dir, 'out');
    const missing = path.join(dir, 'missing.png');
    const r = await runCli(['eval', sharedImage('both.png'), missing, sharedImage('chelsea.png'), ...FAST, '--methods', 'gradcam,gradcam++', '--boxes', boxes, '--out', out]);
    expect(r.stderr).toContain(`error: ${missing}: no such file`);
    expect(r.code).toBe(1);
    const json = JSON.parse(readFileSync(path.join(out, 'eval.json'), 'utf8'));
    expect(Object.keys(json.methods)).toEqual(['gradcam', 'gradcam++']);
    expect(Object.keys(json.baselines)).toEqual(['random', 'centre']);
    for (const m of [...Object.values(json.methods), ...Object.values(json.baselines)] as Record<string, unknown>[]) {
      for (const k of ['averageDrop', 'increaseInConfidence', 'deletionAuc', 'insertionAuc']) expect(Number.isFinite(m[k]), k).toBe(true);
      expect((m.pointingGame as { total: number }).total).toBe(3); // both.png: a dog and a cat; chelsea.png: the tabby
    }
    // Classes: both.png's groups resolve to their top-scoring members (a dog breed, a cat), chelsea.png's label to 281.
    const cases = json.methods.gradcam.cases as { image: string; classIndex: number; pointingHit: boolean }[];
    expect(cases.map((c) => c.image)).toEqual(['both.png', 'both.png', 'chelsea.png']);
    expect(cases[0].classIndex).toBeGreaterThanOrEqual(151);
    expect(cases[0].classIndex).toBeLessThanOrEqual(268);
    expect(GROUPS.cat).toContain(cases[1].classIndex);
    expect(cases[2].classIndex).toBe(281);
    expect(json.methods.gradcam.pointingGame.hits).toBe(3);
    expect(json.methods.gradcam.deletionAuc).toBeLessThan(json.baselines.random.deletionAuc);
    expect(json.methods.gradcam.curves.deletion).toHaveLength(5);
    const md = readFileSync(path.join(out, 'eval.md'), 'utf8');
    expect(md).toMatch(/\| Grad-CAM \| [\d.]+ \|/);
    expect(md).toMatch(/\*random map \(baseline\)\*/);
    expect(md).toContain('](curves.svg)');
    expect(r.stdout).toContain('| Grad-CAM++ |');
    const svg = readFileSync(path.join(out, 'curves.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(8); // 4 maps × (deletion, insertion)
  }, 240_000);

  it('--class overrides the boxes; a bad boxes file or method stops with one line naming it', async () => {
    const dir = tmp();
    const r = await runCli(['eval', sharedImage('both.png'), ...FAST, '--class', 'tiger cat', '--deletion-baseline', 'mean', '--out', path.join(dir, 'a')]);
    expect(r.code).toBe(0);
    const json = JSON.parse(readFileSync(path.join(dir, 'a', 'eval.json'), 'utf8'));
    expect(json.methods.gradcam.cases.map((c: { classIndex: number }) => c.classIndex)).toEqual([282]);
    expect(json.methods.gradcam.pointingGame).toBeUndefined();
    expect(readFileSync(path.join(dir, 'a', 'eval.md'), 'utf8')).toContain('pixels are removed (set to the image mean)');

    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ 'both.png': { 'flying saucer': [[0, 0, 10, 10]] } }));
    const b = await runCli(['eval', sharedImage('both.png'), ...FAST, '--boxes', bad, '--out', path.join(dir, 'b')]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(new RegExp(`error: ${bad}: both.png: unknown class 'flying saucer'`));
    writeFileSync(bad, JSON.stringify({ 'both.png': { cat: [[10, 10, 0, 0]] }, groups: GROUPS }));
    const c = await runCli(['eval', sharedImage('both.png'), ...FAST, '--boxes', bad, '--out', path.join(dir, 'b')]);
    expect(c.stderr).toMatch(/bad\.json: both\.png: 'cat' must be a list of \[x0, y0, x1, y1\] boxes/);
    const m = await runCli(['eval', sharedImage('both.png'), ...FAST, '--methods', 'gradcam,nosuch', '--out', path.join(dir, 'b')]);
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/unknown method 'nosuch'; methods: gradcam, gradcam\+\+/);
    const z = await runCli(['eval', sharedImage('both.png'), ...FAST, '--deletion-baseline', 'black', '--out', path.join(dir, 'b')]);
    expect(z.code).toBe(2);
    expect(z.stderr).toMatch(/unknown baseline 'black'; baselines: zero, mean, blur/);
  }, 240_000);
});

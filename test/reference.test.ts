/**
 * Agreement with pytorch-grad-cam (../shared/reference, computed on the same MobileNet weights, layer
 * conv_pw_13_relu, from the exact stored inputs). Every entry of index.json whose file is present is
 * checked; a table of the agreement per method is printed. Tolerances: the reference README's cpu ones
 * (|Δ cam7_norm| ≤ 1e-4, raw ≤ 1e-4·max|cam7|; Ablation-CAM 1e-3), which wasm meets too.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { explain, type TargetExplanation } from '../src/index.js';
import type { MethodName } from '../src/methods/index.js';
import { MODEL_025, MODEL_075, REFERENCE_DIR, model, pearson, referenceInput } from './helpers.js';

interface IndexEntry { file: string; model: string; image_stem: string; method: string; classIndex: number }
interface Entry {
  classIndex: number; logit: number;
  cam7_prerelu: number[][]; cam7: number[][]; cam7_norm: number[][];
  weights: number[] | null; cam224_file: string | null; cam224_samples: [number, number, number][];
}

const METHOD: Record<string, MethodName> = {
  GradCAM: 'gradcam', GradCAMPlusPlus: 'gradcam++', XGradCAM: 'xgradcam', HiResCAM: 'hirescam',
  LayerCAM: 'layercam', EigenCAM: 'eigencam', ScoreCAM: 'scorecam', AblationCAM: 'ablationcam',
};
const MODELS: Record<string, string> = { 'mobilenet_v1_0.25_224': MODEL_025, 'mobilenet_v1_0.75_224': MODEL_075 };
/** Score-CAM costs C forward passes per image (256 on α=0.25, 768 on α=0.75): checked on these images only. */
const SCORECAM_STEMS = new Set(['cat_dog', 'both', 'chelsea']);
/** Pearson thresholds on the normalised 7×7 maps. */
const MIN_PEARSON: Record<string, number> = { ScoreCAM: 0.95, AblationCAM: 0.95 };

const index = JSON.parse(readFileSync(path.join(REFERENCE_DIR, 'index.json'), 'utf8')) as { entries: IndexEntry[] };
const present = index.entries.filter((e) =>
  existsSync(path.join(REFERENCE_DIR, e.file)) && existsSync(path.join(REFERENCE_DIR, 'inputs', `${e.image_stem}.u8`)));
const checked = present.filter((e) => e.method !== 'ScoreCAM' || SCORECAM_STEMS.has(e.image_stem));

interface Result {
  e: IndexEntry; ref: Entry; t: TargetExplanation;
  pearson: number; normDiff: number; rawDiff: number; weightErr: number; logitDiff: number; flipped: boolean;
  /** Max |Δ| of the 224×224 map at the reference's 169 sample points (NaN when the sign was flipped). */
  samplesDiff: number;
}

const flat = (a: number[][]) => a.flat();
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
/** pytorch-grad-cam's normalisation: ReLU, then `c -= min; c /= 1e-7 + max`. */
function pgcNorm(raw: ArrayLike<number>): Float64Array {
  const r = Float64Array.from(raw, (v) => Math.max(v, 0));
  const lo = Math.min(...r);
  const hi = Math.max(...r.map((v) => v - lo));
  return r.map((v) => (v - lo) / (1e-7 + hi));
}
/** A .npy float32 2-D array (format version 1). */
function readNpy(file: string): Float32Array {
  const buf = readFileSync(file);
  const header = buf.readUInt16LE(8);
  return new Float32Array(buf.buffer.slice(buf.byteOffset + 10 + header, buf.byteOffset + buf.byteLength));
}

function compare(e: IndexEntry, ref: Entry, t: TargetExplanation): Result {
  const pre = flat(ref.cam7_prerelu);
  // Eigen-CAM's sign is whatever the SVD returns (the reference applies none): compare up to a global sign.
  const flipped = e.method === 'EigenCAM' && pearson(t.rawCam.data, pre) < 0;
  const raw = flipped ? t.rawCam.data.map((v) => -v) : t.rawCam.data;
  const norm = flipped ? pgcNorm(raw) : t.cam.data;
  const refW = ref.weights;
  let weightErr = NaN;
  if (refW && t.weights) {
    const scale = maxAbs(refW);
    weightErr = e.method === 'AblationCAM'
      ? maxDiff(t.weights, refW)
      : Math.max(...refW.map((w, k) => Math.abs(t.weights![k] - w) / (Math.abs(w) + 1e-6 * scale)));
  }
  return {
    e, ref, t, flipped, weightErr,
    pearson: pearson(norm, flat(ref.cam7_norm)),
    normDiff: maxDiff(norm, flat(ref.cam7_norm)),
    rawDiff: maxDiff(raw, pre) / maxAbs(flat(ref.cam7)),
    logitDiff: Math.abs(t.logit - ref.logit),
    samplesDiff: flipped ? NaN : Math.max(...ref.cam224_samples.map(([row, col, v]) => Math.abs(t.heatmap.data[row * 224 + col] - v))),
  };
}

const results: Result[] = [];

beforeAll(async () => {
  const groups = new Map<string, IndexEntry[]>();
  for (const e of checked) {
    const key = `${e.model}|${e.method}|${e.image_stem}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  for (const entries of groups.values()) {
    const { model: modelName, method, image_stem: stem } = entries[0];
    const m = await model(MODELS[modelName]);
    const [r] = await explain(m, [referenceInput(stem)], {
      method: METHOD[method], layer: 'conv_pw_13_relu', targets: entries.map((e) => e.classIndex), batchSize: 64,
    });
    for (const [i, e] of entries.entries()) {
      const ref = JSON.parse(readFileSync(path.join(REFERENCE_DIR, e.file), 'utf8')) as Entry;
      results.push(compare(e, ref, r.targets[i]));
    }
  }
  const rows = Object.keys(METHOD).map((method) => {
    const rs = results.filter((r) => r.e.method === method);
    const all = present.filter((e) => e.method === method).length;
    const worst = (f: (r: Result) => number) => (rs.length ? Math.max(...rs.map(f).filter((v) => !Number.isNaN(v)), 0).toExponential(1) : '–');
    return `| ${method} | ${rs.length}${rs.length < all ? ` of ${all} (images ${[...SCORECAM_STEMS].join(', ')})` : ''} | `
      + `${rs.length ? Math.min(...rs.map((r) => r.pearson)).toFixed(6) : '–'} | ${worst((r) => r.normDiff)} | ${worst((r) => r.rawDiff)} | `
      + `${rs.some((r) => r.ref.weights) ? worst((r) => r.weightErr) : '–'} | ${worst((r) => r.samplesDiff)} | ${method === 'EigenCAM' ? `${rs.filter((r) => r.flipped).length} flipped` : ''} |`;
  });
  console.log([
    `\npytorch-grad-cam agreement, ${present.length} reference entries present, ${results.length} checked (wasm backend)`,
    '| method | entries | min Pearson (cam7_norm) | max abs Δ cam7_norm | max Δ raw / max cam7 | weights (rel.; Ablation abs.) | max abs Δ 224 map (169 points) | sign |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n'));
}, 600_000);

describe('pytorch-grad-cam reference maps (conv_pw_13_relu)', () => {
  it('checks every reference entry present, of every method', () => {
    expect(present.length).toBeGreaterThan(0);
    for (const method of Object.keys(METHOD)) expect(results.some((r) => r.e.method === method)).toBe(true);
    expect(results.length).toBe(checked.length);
  });

  it('Grad-CAM matches: 7×7 map, raw scale, weights, logits and the full 224×224 map', () => {
    const grad = results.filter((r) => r.e.method === 'GradCAM');
    expect(grad.length).toBe(present.filter((e) => e.method === 'GradCAM').length);
    for (const r of grad) {
      const what = `${r.e.file}`;
      expect(r.pearson, what).toBeGreaterThanOrEqual(0.99);
      expect(r.normDiff, what).toBeLessThanOrEqual(1e-4);
      expect(r.rawDiff, what).toBeLessThanOrEqual(1e-4);
      expect(r.weightErr, what).toBeLessThanOrEqual(1e-3);
      expect(r.logitDiff, what).toBeLessThanOrEqual(1e-3);
      expect(r.samplesDiff, what).toBeLessThanOrEqual(1e-3);
      // The peak cell of the raw map is pytorch-grad-cam's.
      const argmax = r.t.cam.data.indexOf(Math.max(...r.t.cam.data));
      const [row, col] = JSON.parse(readFileSync(path.join(REFERENCE_DIR, r.e.file), 'utf8')).cam7_argmax_rc as number[];
      expect(argmax, what).toBe(row * 7 + col);
      // The 224 heatmap (input = original size here) is pgc's cv2 bilinear resize + min–max.
      if (r.ref.cam224_file) {
        const ref224 = readNpy(path.join(REFERENCE_DIR, path.dirname(r.e.file), path.basename(r.ref.cam224_file)));
        expect([r.t.heatmap.width, r.t.heatmap.height]).toEqual([224, 224]);
        expect(maxDiff(r.t.heatmap.data, ref224), what).toBeLessThanOrEqual(1e-3);
      }
    }
  });

  it.each(Object.keys(METHOD).filter((m) => m !== 'GradCAM'))('%s matches within the reference tolerances', (method) => {
    const rs = results.filter((r) => r.e.method === method);
    expect(rs.length).toBeGreaterThan(0);
    const tol = method === 'AblationCAM' ? 1e-3 : 1e-4;
    for (const r of rs) {
      const what = r.e.file;
      expect(r.pearson, what).toBeGreaterThanOrEqual(MIN_PEARSON[method] ?? 0.99);
      expect(r.normDiff, what).toBeLessThanOrEqual(tol);
      expect(r.rawDiff, what).toBeLessThanOrEqual(tol);
      if (!r.flipped) expect(r.samplesDiff, what).toBeLessThanOrEqual(1e-3);
      if (r.ref.weights) expect(r.weightErr, what).toBeLessThanOrEqual(method === 'AblationCAM' ? 1e-5 : 1e-3);
      else expect(r.t.weights, what).toBeUndefined();
    }
  });

  it('Eigen-CAM gives every target of an image the same map', () => {
    const eigen = results.filter((r) => r.e.method === 'EigenCAM');
    for (const r of eigen) {
      const same = eigen.filter((o) => o.e.image_stem === r.e.image_stem && o.e.model === r.e.model);
      for (const o of same) expect(maxDiff(o.t.rawCam.data, r.t.rawCam.data)).toBe(0);
    }
  });
});

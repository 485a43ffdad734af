/**
 * Detector output layouts: small adapters from a detector's raw outputs to boxes, scores and classes
 * (before NMS), each detection carrying the output cells its score was read from, so that the score
 * can be recomputed differentiably (see `targets.ts`).
 *
 * - `centernet`: a per-class centre heatmap `[1, h, w, C]` (after a sigmoid) and box extents
 *   `[1, h, w, 4]` (left, top, right, bottom distances in input pixels) or `[1, h, w, 2]` (width,
 *   height); a detection is a 3×3 local maximum of the heatmap, its score the heatmap at its own cell.
 * - `anchor-free`: per-stride heads like NanoDet/GFL: class scores `[1, side², C]` (after a sigmoid) and
 *   box distributions `[1, side², 4·bins]` per stride; a side's distance is the expectation of the
 *   softmax over its bins times the stride; a detection's score is its cell's best class.
 * - `yolov8`: one output `[1, 4 + C, N]`: cx, cy, w, h (input pixels), then C class scores.
 * - `yolov5`: one output `[1, N, 5 + C]`: cx, cy, w, h, objectness, then C class probabilities;
 *   score = objectness × class probability.
 */
import { GradcamError } from '../model/types.js';
import type { Box } from './nms.js';

/** The detector output layouts the library decodes (see the README's Detectors section). */
export type LayoutName = 'centernet' | 'anchor-free' | 'yolov8' | 'yolov5';
export const LAYOUTS: LayoutName[] = ['centernet', 'anchor-free', 'yolov8', 'yolov5'];

/** One element of an output: `outputs[output][row, ...index]`. */
export interface ScoreCell {
  output: number;
  index: number[];
}

/** A decoded detection before NMS, in the network input's pixels. */
export interface RawDetection {
  classIndex: number;
  score: number;
  box: Box;
  /** The score is the product of these output elements (one cell, or objectness × class for YOLOv5). */
  cells: ScoreCell[];
  /** The grid cell the detection was read from, in input pixels (its centre), where the layout has one. */
  anchor?: { x: number; y: number; stride?: number };
}

/** One output of one image: its shape without the batch dimension, and its values. */
export interface OutputData {
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

/** Which model outputs play which role in a layout. */
export type LayoutRoles =
  | { layout: 'centernet'; heatmap: number; extents: number; stride: number }
  | { layout: 'anchor-free'; levels: { scores: number; boxes: number; stride: number; side: number }[]; bins: number }
  | { layout: 'yolov8'; output: number }
  | { layout: 'yolov5'; output: number };

/** Options of decoding. */
export interface DecodeOptions {
  /** Cells scoring below this are not candidates. */
  minScore: number;
  /** CenterNet: at most this many heatmap peaks (the graph's own TopK; default 100). */
  topK?: number;
}

type Shape = readonly (number | null)[];
const dims = (s: Shape) => s.slice(1).map((d) => d ?? -1);

/**
 * Recognises a layout from the outputs' shapes (batch dimension first) and the input size, or
 * returns undefined. With `want`, only that layout is tried; `classes` (the number of labels, when
 * known) tells class scores from box distributions when both are multiples of 4 wide.
 */
export function recogniseLayout(
  outputs: { name: string; shape: Shape }[], inputSize: [number, number], want?: LayoutName, classes?: number,
): LayoutRoles | undefined {
  const [H, W] = inputSize;
  const try_ = (l: LayoutName) => !want || want === l;
  if (try_('centernet')) {
    const four = outputs.map((o, i) => ({ i, d: dims(o.shape), name: o.name })).filter((o) => o.d.length === 3);
    const heat = four.filter((o) => o.d[2] > 4).sort((a, b) => Number(/key|heat|hm/i.test(b.name)) - Number(/key|heat|hm/i.test(a.name)));
    for (const h of heat) {
      const ext = four.find((o) => o.i !== h.i && o.d[0] === h.d[0] && o.d[1] === h.d[1] && (o.d[2] === 4 || o.d[2] === 2));
      if (ext) return { layout: 'centernet', heatmap: h.i, extents: ext.i, stride: H / h.d[0] };
    }
  }
  const three = outputs.map((o, i) => ({ i, d: dims(o.shape) })).filter((o) => o.d.length === 2);
  if (try_('anchor-free') && three.length >= 2) {
    // Outputs with the same square number of cells pair up as (class scores, box distributions).
    const isScores = (a: { d: number[] }, b: { d: number[] }) =>
      b.d[1] % 4 !== 0 ? false : a.d[1] % 4 !== 0 ? true : classes && (a.d[1] === classes || b.d[1] === classes) ? a.d[1] === classes : a.d[1] > b.d[1];
    const levels: { scores: number; boxes: number; stride: number; side: number }[] = [];
    const used = new Set<number>();
    for (const a of three) {
      const side = Math.round(Math.sqrt(a.d[0]));
      if (used.has(a.i) || side * side !== a.d[0]) continue;
      const b = three.find((o) => o.i !== a.i && !used.has(o.i) && o.d[0] === a.d[0] && isScores(a, o));
      if (!b) continue;
      used.add(a.i).add(b.i);
      levels.push({ scores: a.i, boxes: b.i, stride: H / side, side });
    }
    const bins = levels.length ? three.find((o) => o.i === levels[0].boxes)!.d[1] / 4 : 0;
    if (levels.length && levels.every((l) => Number.isInteger(l.stride) && W / l.side === l.stride && three.find((o) => o.i === l.boxes)!.d[1] === 4 * bins)) {
      return { layout: 'anchor-free', levels: levels.sort((a, b) => a.stride - b.stride), bins };
    }
  }
  if (outputs.length === 1 || want) {
    for (let i = 0; i < outputs.length; i++) {
      const d = dims(outputs[i].shape);
      if (d.length !== 2) continue;
      if (try_('yolov8') && d[0] > 4 && d[1] > d[0]) return { layout: 'yolov8', output: i };
      if (try_('yolov5') && d[1] > 5 && d[0] > d[1]) return { layout: 'yolov5', output: i };
    }
  }
  return undefined;
}

/** Decodes one image's outputs into candidate detections (no NMS). */
export function decode(roles: LayoutRoles, outputs: OutputData[], opts: DecodeOptions): RawDetection[] {
  switch (roles.layout) {
    case 'centernet': return decodeCenterNet(outputs[roles.heatmap], outputs[roles.extents], roles, opts);
    case 'anchor-free': return decodeAnchorFree(roles, outputs, opts);
    case 'yolov8': return decodeYolo8(outputs[roles.output], roles.output, opts);
    case 'yolov5': return decodeYolo5(outputs[roles.output], roles.output, opts);
  }
}

function decodeCenterNet(heat: OutputData, ext: OutputData, roles: { heatmap: number; stride: number }, opts: DecodeOptions): RawDetection[] {
  const [h, w, C] = heat.shape;
  const e = ext.shape[2];
  const hm = heat.data;
  const stride = roles.stride;
  const peaks: { v: number; i: number }[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const base = (y * w + x) * C;
      for (let c = 0; c < C; c++) {
        const v = hm[base + c];
        if (v < opts.minScore) continue;
        // A peak: not smaller than any 3×3 neighbour (SAME max-pool equality, as the graph does).
        let peak = true;
        for (let dy = -1; dy <= 1 && peak; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= h) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if (xx < 0 || xx >= w || (dx === 0 && dy === 0)) continue;
            if (hm[(yy * w + xx) * C + c] > v) { peak = false; break; }
          }
        }
        if (peak) peaks.push({ v, i: base + c });
      }
    }
  }
  peaks.sort((a, b) => b.v - a.v || a.i - b.i);
  return peaks.slice(0, opts.topK ?? 100).map(({ v, i }) => {
    const c = i % C;
    const cell = (i - c) / C;
    const x = cell % w;
    const y = (cell - x) / w;
    const o = cell * e;
    const cx = x * stride, cy = y * stride;
    const box: Box = e === 4
      ? [cx - ext.data[o], cy - ext.data[o + 1], cx + ext.data[o + 2], cy + ext.data[o + 3]]
      : [cx - ext.data[o] / 2, cy - ext.data[o + 1] / 2, cx + ext.data[o] / 2, cy + ext.data[o + 1] / 2];
    return { classIndex: c, score: v, box, cells: [{ output: roles.heatmap, index: [y, x, c] }], anchor: { x: cx, y: cy, stride } };
  });
}

function decodeAnchorFree(roles: Extract<LayoutRoles, { layout: 'anchor-free' }>, outputs: OutputData[], opts: DecodeOptions): RawDetection[] {
  const out: RawDetection[] = [];
  const R = roles.bins;
  const prob = new Float64Array(R);
  for (const level of roles.levels) {
    const scores = outputs[level.scores];
    const dist = outputs[level.boxes];
    const [n, C] = scores.shape;
    for (let i = 0; i < n; i++) {
      let best = -Infinity, cls = 0;
      for (let c = 0; c < C; c++) {
        const v = scores.data[i * C + c];
        if (v > best) { best = v; cls = c; }
      }
      if (best < opts.minScore) continue;
      const cx = ((i % level.side) + 0.5) * level.stride;
      const cy = (Math.floor(i / level.side) + 0.5) * level.stride;
      const d = [0, 0, 0, 0];
      for (let k = 0; k < 4; k++) {
        const base = i * 4 * R + k * R;
        let max = -Infinity;
        for (let b = 0; b < R; b++) max = Math.max(max, dist.data[base + b]);
        let sum = 0;
        for (let b = 0; b < R; b++) sum += prob[b] = Math.exp(dist.data[base + b] - max);
        let expect = 0;
        for (let b = 0; b < R; b++) expect += (prob[b] / sum) * b;
        d[k] = expect * level.stride;
      }
      out.push({
        classIndex: cls, score: best, box: [cx - d[0], cy - d[1], cx + d[2], cy + d[3]],
        cells: [{ output: level.scores, index: [i, cls] }], anchor: { x: cx, y: cy, stride: level.stride },
      });
    }
  }
  return out;
}

function decodeYolo8(o: OutputData, output: number, opts: DecodeOptions): RawDetection[] {
  const [rows, n] = o.shape;
  const C = rows - 4;
  const v = (r: number, i: number) => o.data[r * n + i];
  const out: RawDetection[] = [];
  for (let i = 0; i < n; i++) {
    let best = -Infinity, cls = 0;
    for (let c = 0; c < C; c++) if (v(4 + c, i) > best) { best = v(4 + c, i); cls = c; }
    if (best < opts.minScore) continue;
    const cx = v(0, i), cy = v(1, i), w = v(2, i), h = v(3, i);
    out.push({ classIndex: cls, score: best, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], cells: [{ output, index: [4 + cls, i] }], anchor: { x: cx, y: cy } });
  }
  return out;
}

function decodeYolo5(o: OutputData, output: number, opts: DecodeOptions): RawDetection[] {
  const [n, cols] = o.shape;
  const C = cols - 5;
  const out: RawDetection[] = [];
  for (let i = 0; i < n; i++) {
    const r = i * cols;
    const obj = o.data[r + 4];
    if (obj < opts.minScore) continue;
    let best = -Infinity, cls = 0;
    for (let c = 0; c < C; c++) if (o.data[r + 5 + c] > best) { best = o.data[r + 5 + c]; cls = c; }
    const score = obj * best;
    if (score < opts.minScore) continue;
    const cx = o.data[r], cy = o.data[r + 1], w = o.data[r + 2], h = o.data[r + 3];
    out.push({
      classIndex: cls, score, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
      cells: [{ output, index: [i, 4] }, { output, index: [i, 5 + cls] }], anchor: { x: cx, y: cy },
    });
  }
  return out;
}

/** Throws unless `name` is a known layout. */
export function checkLayout(name: string): LayoutName {
  if (!(LAYOUTS as string[]).includes(name)) throw new GradcamError(`unknown detector layout '${name}'; layouts: ${LAYOUTS.join(', ')}`);
  return name as LayoutName;
}

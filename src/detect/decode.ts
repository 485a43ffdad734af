/** From a detector's output tensors for one image to its final detections (decode, NMS, scale). */
import * as tf from '@tensorflow/tfjs';
import type { DetectorConfig } from './config.js';
import { decode, type OutputData, type RawDetection } from './layouts.js';
import { nms, type Box } from './nms.js';

/** A detection in the original image's pixels. */
export interface Detection {
  classIndex: number;
  className: string;
  score: number;
  /** `[x1, y1, x2, y2]` in the original image's pixels (not clipped). */
  box: Box;
  /** The detection as decoded, in the network input's pixels, with the output cells of its score. */
  raw: RawDetection;
}

/** The outputs a layout reads. */
export function usedOutputs(config: DetectorConfig): number[] {
  const r = config.roles;
  switch (r.layout) {
    case 'centernet': return [r.heatmap, r.extents];
    case 'anchor-free': return r.levels.flatMap((l) => [l.scores, l.boxes]);
    default: return [r.output];
  }
}

/** Reads row `row` of the outputs a layout uses (others stay empty). */
export function readOutputs(outputs: tf.Tensor[], config: DetectorConfig, row = 0): OutputData[] {
  const data: OutputData[] = outputs.map(() => ({ shape: [], data: new Float32Array(0) }));
  for (const i of usedOutputs(config)) {
    const t = outputs[i];
    const one = t.shape[0] === 1 && row === 0 ? t : tf.tidy(() => t.slice(row, 1));
    data[i] = { shape: t.shape.slice(1), data: one.dataSync() as Float32Array };
    if (one !== t) one.dispose();
  }
  return data;
}

/** Decodes, suppresses and scales one image's detections to a `width`×`height` image. */
export function finalDetections(data: OutputData[], config: DetectorConfig, width: number, height: number): Detection[] {
  const candidates = decode(config.roles, data, { minScore: config.minScore, topK: config.topK });
  const keep = nms(candidates, config);
  const [H, W] = config.preprocessing.size;
  const sx = width / W, sy = height / H;
  return keep.map((k) => {
    const r = candidates[k];
    return {
      classIndex: r.classIndex,
      className: config.labels[r.classIndex] ?? `class ${r.classIndex}`,
      score: r.score,
      box: [r.box[0] * sx, r.box[1] * sy, r.box[2] * sx, r.box[3] * sy],
      raw: r,
    };
  });
}

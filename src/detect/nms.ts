/** Boxes `[x1, y1, x2, y2]` and greedy non-maximum suppression, in plain JavaScript. */
export type Box = [number, number, number, number];

/** Intersection over union of two boxes (0 when either is empty). */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const area = (r: Box) => Math.max(0, r[2] - r[0]) * Math.max(0, r[3] - r[1]);
  const union = area(a) + area(b) - inter;
  return union > 0 ? inter / union : 0;
}

export interface NmsOptions {
  /** A box is dropped when its IoU with a kept, higher-scoring box exceeds this. */
  iou: number;
  /** Candidates scoring below this are ignored. */
  minScore: number;
  /** At most this many boxes are kept. */
  maxDetections: number;
  /** Suppress across classes (true) or only within a class (false). */
  classAgnostic: boolean;
}

/**
 * Greedy NMS as `tf.image.nonMaxSuppression`: candidates by descending score (stable for ties), a
 * candidate kept unless it overlaps a kept box by more than `iou`. Returns indices into `items`.
 */
export function nms<T extends { box: Box; score: number; classIndex: number }>(items: T[], opts: NmsOptions): number[] {
  const order = items.map((_, i) => i).filter((i) => items[i].score >= opts.minScore)
    .sort((a, b) => items[b].score - items[a].score || a - b);
  const kept: number[] = [];
  for (const i of order) {
    if (kept.length >= opts.maxDetections) break;
    const suppressed = kept.some((k) => (opts.classAgnostic || items[k].classIndex === items[i].classIndex) && iou(items[k].box, items[i].box) > opts.iou);
    if (!suppressed) kept.push(i);
  }
  return kept;
}

/**
 * The pointing game (Zhang et al., ECCV 2016, "Top-down neural attention by excitation backprop"),
 * as used in the Grad-CAM paper: a hit when the map's maximum lies within `tolerance` (15) pixels of
 * a ground-truth box of the explained class. And its energy-based variant (Wang et al., Score-CAM
 * §5.2): the share of the map's mass that lies inside the boxes. Both in original-image pixels.
 */
import type { Grid } from '../core/explain.js';

/** A box `[x0, y0, x1, y1]` in original-image pixels (corners inclusive). */
export type Box = [number, number, number, number];

/** Distance in pixels from a point to a box (0 inside). */
export function boxDistance(p: { x: number; y: number }, [x0, y0, x1, y1]: Box): number {
  const dx = Math.max(x0 - p.x, 0, p.x - x1);
  const dy = Math.max(y0 - p.y, 0, p.y - y1);
  return Math.hypot(dx, dy);
}

/** Whether `peak` (null: no evidence, a miss) lies within `tolerance` px of one of `boxes`. */
export function pointingHit(peak: { x: number; y: number } | null, boxes: Box[], tolerance = 15): boolean {
  return !!peak && boxes.some((b) => boxDistance(peak, b) <= tolerance);
}

/** Share of the heatmap's mass inside the union of `boxes` (0 for an all-zero map). */
export function energyInBoxes(heatmap: Grid, boxes: Box[]): number {
  let inside = 0, total = 0;
  for (let y = 0; y < heatmap.height; y++) {
    for (let x = 0; x < heatmap.width; x++) {
      const v = heatmap.data[y * heatmap.width + x];
      total += v;
      if (boxes.some(([x0, y0, x1, y1]) => x >= x0 && x <= x1 && y >= y0 && y <= y1)) inside += v;
    }
  }
  return total > 0 ? inside / total : 0;
}

/**
 * Share of the heatmap's mass on the image's border: outside the central box that leaves a margin of
 * `margin` (default 1/8) of the width and height on each side. A map that explains the object (usually
 * central) has a small share; one that leans on the frame, corners or background has a large one.
 */
export function borderShare(heatmap: Grid, margin = 1 / 8): number {
  const mx = heatmap.width * margin, my = heatmap.height * margin;
  let border = 0, total = 0;
  for (let y = 0; y < heatmap.height; y++) {
    for (let x = 0; x < heatmap.width; x++) {
      const v = heatmap.data[y * heatmap.width + x];
      total += v;
      if (x < mx || x >= heatmap.width - mx || y < my || y >= heatmap.height - my) border += v;
    }
  }
  return total > 0 ? border / total : 0;
}

/**
 * The compare grid: for one image, a row per target — the image, then every method's overlay (and
 * Guided Grad-CAM right after Grad-CAM), each with a title. The caller lays the tiles out (the CLI
 * writes one PNG).
 */
import { guidedBackprop, guidedImage } from '../core/guided.js';
import type { RgbImage } from '../core/image.js';
import type { CamMethod } from '../core/method.js';
import type { Grid, TargetExplanation } from '../core/types.js';
import { explain, resolveMethod } from '../explain.js';
import { methods as registry } from '../methods/index.js';
import type { ExplainableModel } from '../model/types.js';
import { overlay, type RenderOptions } from '../render/overlay.js';
import type { Target, TargetSpec } from '../targets/index.js';

/** One tile of the grid. */
export interface CompareTile { title: string; image: RgbImage }

/** Options of {@link compareGrid}. */
export interface CompareOptions extends RenderOptions {
  /** Methods (names or objects; default every registered method). */
  methods?: (string | CamMethod)[];
  /** Targets (default: the top class). */
  targets?: TargetSpec[];
  layer?: string | string[];
  /** Forward passes per batch for perturbation methods. */
  batchSize?: number;
  /** Add Guided Grad-CAM after Grad-CAM (default true; needs `gradcam` among the methods). */
  guided?: boolean;
  /** Called with a one-line warning (e.g. a fallback to the cpu backend). */
  onWarning?: (message: string) => void;
  /** Called before each method (and before Guided Grad-CAM) with its title. */
  onMethod?: (title: string) => void;
}

/** The caption of a target's row: class name, index and probability, or the target's description. */
export function targetTitle(t: TargetExplanation): string {
  return t.classIndex >= 0 && t.target.startsWith('class ') ? `${t.className.split(',')[0]} (${t.classIndex}) p=${t.probability.toFixed(3)}` : t.target;
}

/** The grid's tiles, row by row (see the module comment). */
export async function compareGrid(model: ExplainableModel, image: RgbImage, opts: CompareOptions = {}): Promise<CompareTile[][]> {
  const chosen = (opts.methods ?? Object.keys(registry)).map((m) => resolveMethod(m));
  const targets = opts.targets ?? [];
  const rows: CompareTile[][] = [];
  const explained: Target[] = [];
  let gradcamMaps: Grid[] = [];
  for (const method of chosen) {
    opts.onMethod?.(method.title);
    const [r] = await explain(model, [image], {
      method, layer: opts.layer, targets, top: targets.length ? 0 : 1, batchSize: opts.batchSize, onWarning: opts.onWarning,
    });
    r.targets.forEach((t, i) => {
      explained[i] = t.explained;
      rows[i] ??= [{ title: targetTitle(t), image }];
      rows[i].push({ title: method.title, image: overlay(image, t.heatmap, opts) });
    });
    if (method.name === 'gradcam') gradcamMaps = r.targets.map((t) => t.cam);
  }
  if ((opts.guided ?? true) && gradcamMaps.length && model.forward) {
    opts.onMethod?.('Guided Grad-CAM');
    const [guided] = await guidedBackprop(model, [image], { targets: [explained], top: 0, onWarning: opts.onWarning });
    const title = resolveMethod('gradcam').title;
    for (const [i, g] of guided.entries()) {
      const col = rows[i].findIndex((c) => c.title === title) + 1;
      rows[i].splice(col, 0, { title: 'Guided Grad-CAM', image: guidedImage(g, gradcamMaps[i]) });
    }
  }
  return rows;
}

/**
 * Explaining images into the CLI's outputs (`<stem>.json`, `<stem>.<class>.png`,
 * `<stem>.<class>.heatmap.png`, optionally `<stem>.<class>.guided.png`) as in-memory buffers.
 * One function for every front end — `gradcam explain`, the queue workers and the HTTP server —
 * so their files are byte-identical.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { explain, type ImageExplanation } from '../core/explain.js';
import { combineGuided, guidedBackprop, saliencyImage } from '../core/guided.js';
import { inputRegion, type RgbImage } from '../core/image.js';
import { getMethod } from '../methods/index.js';
import type { ExplainableModel } from '../model/types.js';
import { colormapTable, type ColormapName } from '../render/colormap.js';
import { toJson, type ExplanationJson } from '../render/json.js';
import { colorize, overlay } from '../render/overlay.js';
import { resolveClass } from '../targets/index.js';
import { encodePng } from './image.js';

/** What an explanation run is asked for (the `explain` command's map options). Plain data: it travels in queue jobs. */
export interface ExplainJobOptions {
  /** Classes to explain (names or indices); empty: the top prediction (or `top`). */
  class?: string[];
  top?: number;
  method?: string;
  layer?: string;
  batch?: number;
  colormap?: ColormapName;
  alpha?: number;
  counterfactual?: boolean;
  weights?: boolean;
  augSmooth?: boolean;
  eigenSmooth?: boolean;
  guided?: boolean;
}

/** The outputs of one image: its JSON report and its files, each named `<stem><suffix>`. */
export interface ExplainOutput {
  json: ExplanationJson;
  files: { suffix: string; data: Buffer }[];
}

/** The JSON file's exact text. */
export const jsonText = (json: ExplanationJson) => JSON.stringify(json, null, 1) + '\n';

/** Checks the options that do not need a model (method, colormap); throws a GradcamError. */
export function checkJobOptions(opts: ExplainJobOptions): void {
  getMethod(opts.method ?? 'gradcam');
  colormapTable(opts.colormap ?? 'jet');
}

/** Fills in the defaults of `gradcam explain`. */
export function jobDefaults(opts: ExplainJobOptions): Required<Pick<ExplainJobOptions, 'class' | 'method' | 'layer' | 'batch' | 'colormap' | 'alpha'>> & ExplainJobOptions {
  return { ...opts, class: opts.class ?? [], method: opts.method ?? 'gradcam', layer: opts.layer ?? 'auto', batch: opts.batch ?? 8, colormap: opts.colormap ?? 'jet', alpha: opts.alpha ?? 0.5 };
}

const warn = (m: string) => process.stderr.write(`warning: ${m}\n`);

/**
 * Explains decoded images in one batch (one backward pass per `batch` images) and renders each
 * one's outputs. `file` is the name the JSON reports for the image. Throws if the batch fails.
 */
export async function explainImages(
  model: ExplainableModel, items: { file: string; image: RgbImage }[], options: ExplainJobOptions,
): Promise<ExplainOutput[]> {
  const opts = jobDefaults(options);
  const method = getMethod(opts.method);
  const layer = model.resolveLayer(opts.layer);
  const targets = opts.class.map((c) => resolveClass(c, model.labels));
  const results = await explain(model, items.map((d) => d.image), {
    method, layer, targets, top: opts.top ?? (targets.length ? 0 : 1), batchSize: opts.batch,
    counterfactual: opts.counterfactual, augSmooth: opts.augSmooth, eigenSmooth: opts.eigenSmooth, onWarning: warn,
  });
  const guided = opts.guided ? await guidedFiles(model, items, results, opts) : undefined;
  const outputs: ExplainOutput[] = [];
  for (const [i, d] of items.entries()) {
    const files: ExplainOutput['files'] = [];
    for (const t of results[i].targets) {
      const o = overlay(d.image, t.heatmap, opts);
      files.push({ suffix: `.${t.classIndex}.png`, data: await encodePng(o.data, o.width, o.height) });
      const h = colorize(t.heatmap, opts);
      files.push({ suffix: `.${t.classIndex}.heatmap.png`, data: await encodePng(h.data, h.width, h.height) });
    }
    if (guided) files.push(...guided[i]);
    outputs.push({ json: toJson(results[i], d.file, model.source, opts.weights), files });
  }
  return outputs;
}

/** The result of {@link explainImages} before rendering (for callers that render only some of it). */
export type { ImageExplanation };

/**
 * `<stem>.<class>.guided.png` per target: guided backpropagation × the target's map (Guided
 * Grad-CAM for `--method gradcam`), at the size of the image region the network saw.
 */
async function guidedFiles(
  model: ExplainableModel, items: { image: RgbImage }[], results: ImageExplanation[], opts: ReturnType<typeof jobDefaults>,
): Promise<ExplainOutput['files'][]> {
  const guided = await guidedBackprop(model, items.map((d) => d.image), {
    targets: results.map((r) => r.targets.map((t) => t.classIndex)), top: 0, batchSize: opts.batch,
    counterfactual: opts.counterfactual, onWarning: warn,
  });
  const out: ExplainOutput['files'][] = [];
  for (const [i, d] of items.entries()) {
    const region = inputRegion(d.image.width, d.image.height, model.preprocessing);
    const files: ExplainOutput['files'] = [];
    for (const [k, g] of guided[i].entries()) {
      const img = saliencyImage(combineGuided(g, results[i].targets[k].cam), g.width, g.height);
      const png = await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } })
        .resize(region.width, region.height, { fit: 'fill' }).png().toBuffer();
      files.push({ suffix: `.${g.classIndex}.guided.png`, data: png });
    }
    out.push(files);
  }
  return out;
}

/**
 * Writes one image's outputs into `out` as `<stem>.json` and `<stem><suffix>` files. Each file is
 * written to a temporary name and renamed, so a reader (or a crash) never sees half a file; a file
 * that already holds exactly these bytes is left alone. Returns the number of files written.
 */
export async function writeOutput(out: string, stem: string, output: ExplainOutput): Promise<number> {
  await mkdir(out, { recursive: true });
  let written = 0;
  const entries: [string, Buffer][] = [
    [`${stem}.json`, Buffer.from(jsonText(output.json))],
    ...output.files.map((f): [string, Buffer] => [`${stem}${f.suffix}`, f.data]),
  ];
  for (const [name, data] of entries) {
    const target = path.join(out, name);
    const old = await readFile(target).catch(() => undefined);
    if (old && old.equals(data)) continue;
    const tmp = `${target}.${process.pid}.tmp`;
    await writeFile(tmp, data);
    await rename(tmp, target);
    written++;
  }
  return written;
}

/** One line per target for the terminal summary. */
export function summaryLines(stem: string, json: ExplanationJson): string[] {
  return json.targets.map((t) =>
    `${stem}  ${t.className} (${t.classIndex})  p=${t.probability.toFixed(3)}  peak ${t.peak ? `(${t.peak.x}, ${t.peak.y})` : 'none (no positive evidence)'}`);
}

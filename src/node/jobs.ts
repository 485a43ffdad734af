/**
 * Explaining images into the CLI's outputs (`<stem>.json`, `<stem>.<class>.png`,
 * `<stem>.<class>.heatmap.png`, optionally `<stem>.<class>.guided.png`) as in-memory buffers.
 * One function for every front end — `gradcam explain`, the queue workers and the HTTP server —
 * so their files are byte-identical.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveLayers } from '../core/explain.js';
import { guidedBackprop, guidedImage } from '../core/guided.js';
import { inputRegion, type RgbImage } from '../core/image.js';
import type { ImageExplanation, TargetExplanation } from '../core/types.js';
import { explain } from '../explain.js';
import { getMethod } from '../methods/index.js';
import type { ExplainableModel } from '../model/types.js';
import { colormapTable, type ColormapName } from '../render/colormap.js';
import { toJson, type ExplanationJson } from '../render/json.js';
import { colorize, overlay } from '../render/overlay.js';
import type { TargetSpec } from '../targets/index.js';
import { encodePng } from './image.js';

/** What an explanation run is asked for (the `explain` command's map options). Plain data: it travels in queue jobs. */
export interface ExplainJobOptions {
  /** Classes to explain (names or indices); with `target`, empty: the top prediction (or `top`). */
  class?: string[];
  /** Targets in the CLI's forms (`contrast:282-243`, `output:0`, …; `similar:`/`--mask` need files: the CLI resolves them). */
  target?: string[];
  top?: number;
  method?: string;
  /** Layer names (several: the maps are averaged); empty: `auto`. */
  layer?: string[];
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
  /** The explanation itself (in this process only: not carried through the queue). */
  result?: ImageExplanation;
}

/** The JSON file's exact text. */
export const jsonText = (json: ExplanationJson) => JSON.stringify(json, null, 1) + '\n';

/** Checks the options that do not need a model (method, colormap); throws a GradcamError. */
export function checkJobOptions(opts: ExplainJobOptions): void {
  getMethod(opts.method ?? 'gradcam');
  colormapTable(opts.colormap ?? 'jet');
}

/** Fills in the defaults of `gradcam explain`. */
export function jobDefaults(opts: ExplainJobOptions): Required<Pick<ExplainJobOptions, 'class' | 'target' | 'method' | 'layer' | 'batch' | 'colormap' | 'alpha'>> & ExplainJobOptions {
  return {
    ...opts, class: opts.class ?? [], target: opts.target ?? [], method: opts.method ?? 'gradcam', layer: opts.layer ?? [],
    batch: opts.batch ?? 8, colormap: opts.colormap ?? 'jet', alpha: opts.alpha ?? 0.5,
  };
}

/**
 * The file-name key of a target: its class index for a plain class target, else its description
 * made file-safe (`contrast-282-243`, `output-0`).
 */
export function targetKey(t: TargetExplanation): string {
  if (t.classIndex >= 0 && t.target.startsWith('class ')) return String(t.classIndex);
  return t.target.replace(/"[^"]*"/g, '').replace(/[^\w.]+/g, '-').replace(/^-+|-+$/g, '').toLowerCase();
}

const warn = (m: string) => process.stderr.write(`warning: ${m}\n`);

/**
 * Explains decoded images in one batch (one backward pass per `batch` images) and renders each
 * one's outputs. `file` is the name the JSON reports for the image. `targets` are the resolved
 * targets (the CLI's, with `similar:` and `--mask` files read); default: `class` and `target` as
 * specs resolved by the model. Throws if the batch fails.
 */
export async function explainImages(
  model: ExplainableModel, items: { file: string; image: RgbImage }[], options: ExplainJobOptions, targets?: TargetSpec[],
): Promise<ExplainOutput[]> {
  const opts = jobDefaults(options);
  const method = getMethod(opts.method);
  const layers = resolveLayers(model, opts.layer);
  const specs = targets ?? [...opts.class, ...opts.target];
  const results = await explain(model, items.map((d) => d.image), {
    method, layer: layers, targets: specs, top: opts.top ?? (specs.length ? 0 : model.activation === 'sigmoid' && model.labels.length === 2 ? 2 : 1), // a one-sigmoid model: both sides
    batchSize: opts.batch,
    counterfactual: opts.counterfactual, augSmooth: opts.augSmooth, eigenSmooth: opts.eigenSmooth, onWarning: warn,
  });
  const guided = opts.guided ? await guidedFiles(model, items, results, opts) : undefined;
  const outputs: ExplainOutput[] = [];
  for (const [i, d] of items.entries()) {
    const files: ExplainOutput['files'] = [];
    for (const t of results[i].targets) {
      const o = overlay(d.image, t.heatmap, opts);
      files.push({ suffix: `.${targetKey(t)}.png`, data: await encodePng(o.data, o.width, o.height) });
      const h = colorize(t.heatmap, opts);
      files.push({ suffix: `.${targetKey(t)}.heatmap.png`, data: await encodePng(h.data, h.width, h.height) });
    }
    if (guided) files.push(...guided[i]);
    outputs.push({ json: toJson(results[i], d.file, model.source, opts.weights), files, result: results[i] });
  }
  return outputs;
}


/**
 * `<stem>.<class>.guided.png` per target: guided backpropagation × the target's map (Guided
 * Grad-CAM for `--method gradcam`), at the size of the image region the network saw.
 */
async function guidedFiles(
  model: ExplainableModel, items: { image: RgbImage }[], results: ImageExplanation[], opts: ReturnType<typeof jobDefaults>,
): Promise<ExplainOutput['files'][]> {
  const guided = await guidedBackprop(model, items.map((d) => d.image), {
    targets: results.map((r) => r.targets.map((t) => t.explained)), top: 0, batchSize: opts.batch, onWarning: warn,
  });
  const out: ExplainOutput['files'][] = [];
  for (const [i, d] of items.entries()) {
    const region = inputRegion(d.image.width, d.image.height, model.preprocessing);
    const files: ExplainOutput['files'] = [];
    for (const [k, g] of guided[i].entries()) {
      const img = guidedImage(g, results[i].targets[k].cam, region);
      files.push({ suffix: `.${targetKey(results[i].targets[k])}.guided.png`, data: await encodePng(img.data, img.width, img.height) });
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
export function summaryLines(stem: string, result: ImageExplanation): string[] {
  return result.targets.map((t) =>
    `${stem}  ${targetKey(t) === String(t.classIndex) ? `${t.className} (${t.classIndex})  p=${t.probability.toFixed(3)}` : `${t.target}  score=${t.score.toFixed(3)}`}  peak ${t.peak ? `(${t.peak.x}, ${t.peak.y})` : 'none (no positive evidence)'}`);
}

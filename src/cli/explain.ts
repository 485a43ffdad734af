import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { guidedBackprop, guidedImage } from '../core/guided.js';
import type { ImageExplanation, TargetExplanation } from '../core/types.js';
import { explain } from '../explain.js';
import { inputRegion } from '../core/image.js';
import type { RgbImage } from '../core/image.js';
import { getMethod } from '../methods/index.js';
import type { ExplainableModel } from '../model/types.js';
import { encodePng } from '../node/image.js';
import { colormapTable, type ColormapName } from '../render/colormap.js';
import { toJson } from '../render/json.js';
import { colorize, overlay } from '../render/overlay.js';
import { TARGET_FORMS } from '../targets/index.js';
import { resolveLayers } from '../core/explain.js';
import { cliTargets } from './targets.js';
import { expandInputs, openModel, positiveInt, progress, readImages, reportError, uniqueStems, withModelOptions, type ModelOptions } from './common.js';

export interface ExplainCliOptions extends ModelOptions {
  class: string[];
  target: string[];
  mask?: string;
  top?: number;
  method: string;
  layer: string[];
  out: string;
  batch: number;
  colormap: ColormapName;
  alpha: number;
  counterfactual?: boolean;
  weights?: boolean;
  augSmooth?: boolean;
  eigenSmooth?: boolean;
  guided?: boolean;
}

/**
 * The file-name key of a target: its class index for a plain class target, else its description
 * made file-safe (`contrast-282-243`, `output-0`).
 */
export function targetKey(t: TargetExplanation): string {
  if (t.classIndex >= 0 && t.target.startsWith('class ')) return String(t.classIndex);
  return t.target.replace(/"[^"]*"/g, '').replace(/[^\w.]+/g, '-').replace(/^-+|-+$/g, '').toLowerCase();
}

/** Writes `<stem>.json`, `<stem>.<class>.png` (overlay) and `<stem>.<class>.heatmap.png` for one image. */
export async function writeExplanation(
  out: string, stem: string, file: string, image: RgbImage, result: ImageExplanation, model: ExplainableModel,
  opts: { colormap: ColormapName; alpha: number; weights?: boolean; suffix?: string },
): Promise<void> {
  const suffix = opts.suffix ?? '';
  const json = toJson(result, file, model.source, opts.weights);
  await writeFile(path.join(out, `${stem}${suffix}.json`), JSON.stringify(json, null, 1) + '\n');
  for (const t of result.targets) {
    const o = overlay(image, t.heatmap, opts);
    await writeFile(path.join(out, `${stem}.${targetKey(t)}${suffix}.png`), await encodePng(o.data, o.width, o.height));
    const h = colorize(t.heatmap, opts);
    await writeFile(path.join(out, `${stem}.${targetKey(t)}${suffix}.heatmap.png`), await encodePng(h.data, h.width, h.height));
  }
}

const warn = (m: string) => process.stderr.write(`warning: ${m}\n`);

/**
 * Writes `<stem>.<class>.guided.png` per target: guided backpropagation × the target's map (Guided
 * Grad-CAM for `--method gradcam`), at the size of the image region the network saw.
 */
async function writeGuided(
  model: ExplainableModel, items: { stem: string; image: RgbImage }[], results: ImageExplanation[], opts: ExplainCliOptions,
): Promise<void> {
  const guided = await guidedBackprop(model, items.map((d) => d.image), {
    targets: results.map((r) => r.targets.map((t) => t.explained)), top: 0, batchSize: opts.batch, onWarning: warn,
  });
  for (const [i, d] of items.entries()) {
    const region = inputRegion(d.image.width, d.image.height, model.preprocessing);
    for (const [k, g] of guided[i].entries()) {
      const img = guidedImage(g, results[i].targets[k].cam, region);
      const png = await encodePng(img.data, img.width, img.height);
      await writeFile(path.join(opts.out, `${d.stem}.${targetKey(results[i].targets[k])}.guided.png`), png);
    }
  }
}

/**
 * Explains every image; bad files are reported one line each and skipped, the rest are written.
 * Returns the number of images explained.
 */
export async function runExplain(inputs: string[], opts: ExplainCliOptions): Promise<number> {
  const method = getMethod(opts.method);
  colormapTable(opts.colormap);
  const model = await openModel(opts);
  const layers = resolveLayers(model, opts.layer);
  const layer = layers.join('+');
  const targets = await cliTargets(model, [...opts.class, ...opts.target], opts.mask);
  const files = await expandInputs(inputs);
  if (!files.length) throw new Error(`no images found in ${inputs.join(', ')}`);
  const stems = uniqueStems(files);
  await mkdir(opts.out, { recursive: true });
  const bar = progress(files.length, `explaining (${method.name}, ${layer})`);
  let done = 0;
  const summary: string[] = [];
  try {
    for (let start = 0; start < files.length; start += opts.batch) {
      const ok = (await readImages(files.slice(start, start + opts.batch), () => bar.tick()))
        .map((d) => ({ ...d, stem: stems[start + d.index] }));
      if (!ok.length) continue;
      let results;
      try {
        results = await explain(model, ok.map((d) => d.image), {
          method, layer: layers, targets, top: opts.top ?? (targets.length ? 0 : 1), batchSize: opts.batch,
          counterfactual: opts.counterfactual, augSmooth: opts.augSmooth, eigenSmooth: opts.eigenSmooth, onWarning: warn,
        });
        if (opts.guided) await writeGuided(model, ok, results, opts);
      } catch (e) {
        ok.forEach((d) => { reportError(e, d.file); bar.tick(); });
        continue;
      }
      for (const [i, d] of ok.entries()) {
        try {
          await writeExplanation(opts.out, d.stem, d.file, d.image, results[i], model, opts);
          done++;
          summary.push(...results[i].targets.map((t) =>
            `${d.stem}  ${targetKey(t) === String(t.classIndex) ? `${t.className} (${t.classIndex})  p=${t.probability.toFixed(3)}` : `${t.target}  score=${t.score.toFixed(3)}`}  peak ${t.peak ? `(${t.peak.x}, ${t.peak.y})` : 'none (no positive evidence)'}`));
        } catch (e) {
          reportError(e, d.file);
        }
        bar.tick();
      }
    }
  } finally {
    bar.stop();
    model.dispose();
  }
  if (summary.length <= 40) process.stdout.write(summary.map((l) => `${l}\n`).join(''));
  return done;
}

const collect = (v: string, acc: string[]) => [...acc, v];

/** The options `explain` and `compare` share: `--class`, `--target`, `--mask`, `--layer`, `--colormap`, `--alpha`. */
export function withMapOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-c, --class <name|index>', 'class to explain (repeatable)').argParser(collect).default([], 'the top prediction'))
    .addOption(new Option('-t, --target <spec>', `what to explain (repeatable): ${TARGET_FORMS.join(', ')}`).argParser(collect).default([], 'the top prediction'))
    .option('--mask <image>', 'mask for segment:C targets (white = in; default: the pixels the model assigns to C)')
    .addOption(new Option('-l, --layer <name>', "layer to explain, or 'auto' (repeatable: the maps are averaged)").argParser(collect).default([], 'auto'))
    .option('--colormap <name>', 'jet, viridis, inferno, magma, plasma, hot, rainbow, greys', 'jet')
    .option('--alpha <a>', 'heatmap opacity in the overlay, 0..1', Number, 0.5);
}

export function register(program: Command): void {
  withModelOptions(withMapOptions(program.command('explain')
    .description('explain images (files or folders): JSON + overlay and heatmap PNGs per image and target')
    .argument('<images...>', 'image files or folders'))
    .option('-k, --top <k>', 'explain the top k predicted classes', positiveInt('--top'))
    .option('--method <name>', 'CAM method (see `gradcam methods`)', 'gradcam')
    .option('-o, --out <dir>', 'output folder', 'out')
    .option('-b, --batch <n>', 'images per batch', positiveInt('--batch'), 8)
    .option('--counterfactual', 'show what speaks against the class (negated gradients)')
    .option('--aug-smooth', 'average the maps of flipped and intensity-scaled copies (6× the cost)')
    .option('--eigen-smooth', "first principal component of the method's per-channel terms instead of their sum")
    .option('--guided', 'also write <stem>.<class>.guided.png: guided backpropagation × the map (Guided Grad-CAM)')
    .option('--weights', 'include channel weights in the JSON'))
    .action(async (images: string[], opts: ExplainCliOptions) => {
      const n = await runExplain(images, opts);
      process.stderr.write(`explained ${n} image(s) → ${opts.out}/\n`);
    });
}

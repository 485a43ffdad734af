import { mkdir } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { getMethod } from '../methods/index.js';
import { checkJobOptions, explainImages, summaryLines, writeOutput } from '../node/jobs.js';
import type { ColormapName } from '../render/colormap.js';
import { TARGET_FORMS } from '../targets/index.js';
import { resolveLayers } from '../core/explain.js';
import { cliTargets } from './targets.js';
import { runQueuedExplain, withQueueOption } from './queue.js';
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
 * Explains every image; bad files are reported one line each and skipped, the rest are written.
 * Returns the number of images explained.
 */
export async function runExplain(inputs: string[], opts: ExplainCliOptions): Promise<number> {
  const method = getMethod(opts.method);
  checkJobOptions(opts);
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
      try {
        const outputs = await explainImages(model, ok, { ...opts, layer: layers }, targets);
        for (const [i, d] of ok.entries()) {
          try {
            await writeOutput(opts.out, d.stem, outputs[i]);
            done++;
            summary.push(...summaryLines(d.stem, outputs[i].result!));
          } catch (e) {
            reportError(e, d.file);
          }
          bar.tick();
        }
      } catch (e) {
        ok.forEach((d) => { reportError(e, d.file); bar.tick(); });
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

export { targetKey } from '../node/jobs.js';

export function register(program: Command): void {
  withQueueOption(withModelOptions(withMapOptions(program.command('explain')
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
    .option('--weights', 'include channel weights in the JSON')))
    .action(async (images: string[], opts: ExplainCliOptions & { queue?: string; window?: number }) => {
      const n = opts.queue ? await runQueuedExplain(images, { ...opts, queue: opts.queue }) : await runExplain(images, opts);
      process.stderr.write(`explained ${n} image(s) → ${opts.out}/\n`);
    });
}

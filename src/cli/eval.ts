/** `gradcam eval`: every faithfulness/localisation metric for every method, with baselines → eval.md, eval.json, curves.svg. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { methods } from '../methods/index.js';
import { GradcamError, type ExplainableModel } from '../model/types.js';
import { curvesSvg, evalJson, evalMarkdown, evaluate, type Box, type EvalImage, type EvalResult, type EvaluateOptions, type PerturbBaseline } from '../metrics/index.js';
import { resolveClass } from '../targets/index.js';
import { runQueuedEval, withQueueOption } from './queue.js';
import { expandInputs, openModel, positiveInt, progress, readImages, withModelOptions, type ModelOptions } from './common.js';

export interface EvalCliOptions extends ModelOptions {
  queue?: string;
  window?: number;
  methods: string;
  boxes?: string;
  class: string[];
  layer: string;
  out: string;
  batch: number;
  steps: number;
  deletionBaseline: PerturbBaseline;
  insertionBaseline: PerturbBaseline;
  roadPercentages: string;
}

/** A boxes file: `{ "<image>": { "<class|index|group>": [[x0, y0, x1, y1], …] }, "groups": { "<name>": [indices] } }`. */
export interface BoxesFile {
  images: Record<string, Record<string, Box[]>>;
  groups: Record<string, number[]>;
}

/** Reads and checks a boxes file; every problem is a one-line error naming the file (and the image and class). */
export async function readBoxes(file: string, model: ExplainableModel): Promise<BoxesFile> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new GradcamError(`cannot read boxes (${(e as Error).message.split('\n')[0]})`, file);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new GradcamError('boxes must be a JSON object of image → class → boxes', file);
  const { groups = {}, ...images } = raw as Record<string, unknown>;
  const n = model.labels.length;
  for (const [name, members] of Object.entries(groups as Record<string, unknown>)) {
    if (!Array.isArray(members) || !members.length || members.some((i) => !Number.isInteger(i) || i < 0 || i >= n)) {
      throw new GradcamError(`group '${name}' must be a list of class indices 0–${n - 1}`, file);
    }
  }
  for (const [image, classes] of Object.entries(images)) {
    if (!classes || typeof classes !== 'object') throw new GradcamError(`${image}: expected { "<class>": [[x0, y0, x1, y1], …] }`, file);
    for (const [cls, boxes] of Object.entries(classes as Record<string, unknown>)) {
      if (!(cls in (groups as object))) {
        try { resolveClass(cls, model.labels); } catch (e) { throw new GradcamError(`${image}: ${(e as Error).message}`, file); }
      }
      const ok = Array.isArray(boxes) && boxes.every((b) => Array.isArray(b) && b.length === 4 && b.every(Number.isFinite) && b[0] <= b[2] && b[1] <= b[3]);
      if (!ok) throw new GradcamError(`${image}: '${cls}' must be a list of [x0, y0, x1, y1] boxes with x0 ≤ x1, y0 ≤ y1`, file);
    }
  }
  return { images: images as BoxesFile['images'], groups: groups as BoxesFile['groups'] };
}

/** The boxes of an image file: by its path as given, or by its file name. */
export const boxesOf = (boxes: BoxesFile | undefined, file: string) => boxes?.images[file] ?? boxes?.images[path.basename(file)];

/** `--methods all` or a comma-separated list, checked against the registry. */
export function parseMethods(spec: string): string[] {
  const names = spec === 'all' ? Object.keys(methods) : spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length) throw new GradcamError('--methods is empty; give a comma-separated list or all');
  return names;
}

/** Parses `--road-percentages`. */
function percentages(spec: string): number[] {
  const p = spec.split(',').map(Number);
  if (!p.length || p.some((v) => !(v > 0 && v < 100))) throw new GradcamError(`--road-percentages '${spec}' must be numbers between 0 and 100, e.g. 10,30,50,70,90`);
  return p;
}

/** Indented JSON with arrays of numbers on one line. */
export const compactJson = (value: unknown) =>
  JSON.stringify(value, null, 1).replace(/\[\s+([-\d.e,\s]+?)\s+\]/g, (_, g: string) => `[${g.split(/,\s*/).join(', ')}]`) + '\n';

/** The Markdown report: what was evaluated, the table, the plot and what the columns mean. */
export function evalReport(
  result: EvalResult, info: { model: string; backend: string; files: string[]; boxes?: string; deletionBaseline?: PerturbBaseline; insertionBaseline?: PerturbBaseline },
): string {
  const what = { zero: ['set to 0 in input space', 'an image of zeros (input space)'], mean: ['set to the image mean', 'the image mean'], blur: ['blurred', 'a blurred image'] };
  return `# Explanation metrics

Model \`${info.model}\`, layer \`${result.layer}\`, backend ${info.backend}; ${result.images} image(s), ${result.methods[0]?.cases.length ?? 0} (image, class) map(s) per method${info.boxes ? `; boxes from \`${info.boxes}\`` : ''}.
Deletion/insertion in ${result.steps} steps; ROAD at ${result.roadPercentages.join(', ')} % removed. Baselines (*italic*) are computed the same way.

${evalMarkdown(result)}
![Mean deletion and insertion curves](curves.svg)

- **Average Drop** (%, lower is better): mean of max(0, Y − O) / Y, Y the class probability on the image, O on the image with each pixel scaled by the map (in the model's input space, towards 0). **Increase in Confidence**: % of maps with O > Y (Chattopadhay et al. 2018).
- **Deletion / Insertion AUC**: area under the class probability as pixels are removed (${what[info.deletionBaseline ?? 'zero'][0]}) / inserted into ${what[info.insertionBaseline ?? 'blur'][1]}, most relevant first (Petsiuk et al. 2018).
- **ROAD**: (mean LeRF − mean MoRF) / 2 of the class probability when the most / least relevant pixels are replaced by noisy linear imputation (Rong et al. 2022).
- **Pointing game**: hits when the map's maximum lies within 15 px of a box of the class (Zhang et al. 2016); **energy**: share of the map's mass inside the boxes.

Images: ${info.files.map((f) => `\`${path.basename(f)}\``).join(', ')}.
`;
}

export async function runEval(inputs: string[], opts: EvalCliOptions): Promise<EvalResult | undefined> {
  const names = parseMethods(opts.methods);
  names.forEach((n) => { if (!(n in methods)) throw new GradcamError(`unknown method '${n}'; methods: ${Object.keys(methods).join(', ')}`); });
  const road = percentages(opts.roadPercentages);
  for (const b of [opts.deletionBaseline, opts.insertionBaseline]) {
    if (!['zero', 'mean', 'blur'].includes(b)) throw new GradcamError(`unknown baseline '${b}'; baselines: zero, mean, blur`);
  }
  const model = await openModel(opts);
  try {
    const boxes = opts.boxes ? await readBoxes(opts.boxes, model) : undefined;
    opts.class.forEach((c) => resolveClass(c, model.labels));
    const files = await expandInputs(inputs);
    if (!files.length) throw new GradcamError(`no images found in ${inputs.join(', ')}`);
    const good = await readImages(files);
    if (!good.length) return undefined;
    const images: EvalImage[] = good.map(({ file, image }) => ({ image, name: path.basename(file), boxes: boxesOf(boxes, file) }));
    const bar = progress(names.length + 2, 'evaluating');
    const evalOpts: EvaluateOptions = {
      methods: names, targets: opts.class.length ? opts.class : undefined, groups: boxes?.groups, layer: opts.layer,
      batchSize: opts.batch, deletion: { steps: opts.steps, deletionBaseline: opts.deletionBaseline, insertionBaseline: opts.insertionBaseline }, road: { percentages: road },
      onWarning: (m) => process.stderr.write(`warning: ${m}\n`), onProgress: () => bar.tick(),
    };
    let result: EvalResult | undefined;
    try {
      result = opts.queue
        ? await runQueuedEval(good.map((g) => g.file), model, { ...opts, queue: opts.queue }, evalOpts, (f) => boxesOf(boxes, f))
        : await evaluate(model, images, evalOpts);
    } finally {
      bar.stop();
    }
    if (!result) return undefined;
    await mkdir(opts.out, { recursive: true });
    const { getBackend } = await import('@tensorflow/tfjs');
    const info = { ...opts, backend: getBackend(), files: good.map((g) => g.file) };
    await writeFile(path.join(opts.out, 'eval.md'), evalReport(result, info));
    await writeFile(path.join(opts.out, 'eval.json'), compactJson(evalJson(result, { model: opts.model, backend: info.backend, boxes: opts.boxes })));
    await writeFile(path.join(opts.out, 'curves.svg'), curvesSvg(result));
    process.stdout.write(evalMarkdown(result));
    return result;
  } finally {
    model.dispose();
  }
}

export function register(program: Command): void {
  withQueueOption(withModelOptions(program.command('eval')
    .description('faithfulness and localisation metrics of CAM methods, with random and centre baselines → eval.md, eval.json, curves.svg')
    .argument('<images...>', 'image files or folders')
    .option('--methods <list>', "comma-separated methods, or 'all'", 'gradcam')
    .option('--boxes <file>', 'ground-truth boxes JSON (pointing game; the classes to evaluate)')
    .option('-c, --class <name|index>', 'class to evaluate (repeatable); default: the boxes\' classes, else the top prediction', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-l, --layer <name>', "layer to explain, or 'auto'", 'auto')
    .option('-o, --out <dir>', 'output folder', 'eval')
    .option('-b, --batch <n>', 'images per explain batch', positiveInt('--batch'), 8)
    .option('--steps <n>', 'deletion/insertion steps', positiveInt('--steps'), 50)
    .option('--deletion-baseline <kind>', 'what deleted pixels become: zero (0 in input space), mean (image mean) or blur', 'zero')
    .option('--insertion-baseline <kind>', 'the canvas insertion starts from: blur, mean or zero', 'blur')
    .option('--road-percentages <list>', 'ROAD: percentages of pixels removed', '10,20,30,40,50,60,70,80,90')))
    .action(async (images: string[], opts: EvalCliOptions) => {
      const result = await runEval(images, opts);
      if (result) process.stderr.write(`evaluated ${result.methods.length - 2} method(s) on ${result.images} image(s) → ${opts.out}/\n`);
    });
}

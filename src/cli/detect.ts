/**
 * `gradcam detect`: boxes from an object detector and a map per box. Per image `<out>/<stem>.json`,
 * `<stem>.png` (every box drawn and labelled) and `<stem>.<k>.png` (box k's map, its box drawn, the
 * others dimmed).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import sharp from 'sharp';
import type { RgbImage } from '../core/image.js';
import { detect, toDetector, type Detector, type ExplainedDetection, type ImageDetections } from '../detect/detect.js';
import type { DetectorSettings } from '../detect/config.js';
import { checkLayout } from '../detect/layouts.js';
import { readDetectorSettings } from '../node/detector-settings.js';
import { boxesSvg } from '../detect/render.js';
import { GradcamError } from '../model/types.js';
import { colormapTable, type ColormapName } from '../render/colormap.js';
import { gridRows } from '../render/json.js';
import { overlay } from '../render/overlay.js';
import { expandInputs, openModel, progress, readImages, reportError, uniqueStems, withModelOptions, type ModelOptions } from './common.js';

export interface DetectCliOptions extends ModelOptions {
  out: string;
  minScore?: number;
  iou?: number;
  maxDetections?: number;
  classes?: string;
  layout?: string;
  method?: string;
  layer: string;
  maps: boolean;
  colormap: ColormapName;
  alpha: number;
}

/** The JSON report of one image. */
export interface DetectionsJson {
  image: string; width: number; height: number; model: string; method?: string; layer?: string; layout: string;
  detections: { classIndex: number; className: string; score: number; box: number[]; cam?: number[][]; peak?: { x: number; y: number } | null; energyInBox?: number }[];
}

const round = (v: number, d = 4) => Math.round(v * 10 ** d) / 10 ** d;

/** One image's detections as JSON (boxes in the original image's pixels, rounded to 0.1 px). */
export function detectionsJson(r: ImageDetections, image: string, model: string, layout: string): DetectionsJson {
  return {
    image, width: r.width, height: r.height, model, method: r.method, layer: r.layer, layout,
    detections: r.detections.map((d: ExplainedDetection) => ({
      classIndex: d.classIndex, className: d.className, score: round(d.score), box: d.box.map((v) => round(v, 1)),
      ...(d.cam ? { cam: gridRows(d.cam, 4), peak: d.peak ?? null, energyInBox: round(d.energyInBox ?? 0) } : {}),
    })),
  };
}

async function withBoxes(img: RgbImage, r: ImageDetections, highlight?: number): Promise<Buffer> {
  const svg = boxesSvg(img.width, img.height, r.detections, highlight);
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }]).png().toBuffer();
}

/** Writes `<stem>.json`, `<stem>.png` and `<stem>.<k>.png`. */
export async function writeDetections(out: string, stem: string, file: string, img: RgbImage, r: ImageDetections, detector: Detector, opts: { colormap: ColormapName; alpha: number }): Promise<void> {
  const json = detectionsJson(r, file, detector.model.source, detector.config.layout);
  await writeFile(path.join(out, `${stem}.json`), JSON.stringify(json, null, 1) + '\n');
  await writeFile(path.join(out, `${stem}.png`), await withBoxes(img, r));
  for (const [k, d] of r.detections.entries()) {
    if (!d.heatmap) continue;
    await writeFile(path.join(out, `${stem}.${k}.png`), await withBoxes(overlay(img, d.heatmap, opts), r, k));
  }
}

const number = (name: string, lo: number, hi: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < lo || n > hi) throw new GradcamError(`${name} must be a number in [${lo}, ${hi}], got '${v}'`);
  return n;
};

/** Detects (and explains) every image; bad files are reported one line each and skipped. Returns the number written. */
export async function runDetect(inputs: string[], opts: DetectCliOptions): Promise<number> {
  colormapTable(opts.colormap);
  const settings: DetectorSettings = { ...(await readDetectorSettings(opts.model)) };
  if (opts.layout) settings.layout = checkLayout(opts.layout);
  if (opts.minScore !== undefined) settings.minScore = opts.minScore;
  if (opts.iou !== undefined) settings.iou = opts.iou;
  if (opts.maxDetections !== undefined) settings.maxDetections = opts.maxDetections;
  if (opts.inputRange) {
    const r = opts.inputRange.split(',').map(Number);
    if (r.length !== 2 || r.some((v) => !Number.isFinite(v))) throw new GradcamError(`--input-range '${opts.inputRange}' must be two numbers like 0,255`);
    settings.range = [r[0], r[1]];
  }
  if (opts.labels) {
    const text = await readFile(opts.labels, 'utf8').catch(() => { throw new GradcamError('cannot read labels file', opts.labels); });
    settings.labels = text.trim().startsWith('[') ? (JSON.parse(text) as string[]) : text.split('\n').map((l) => l.trim()).filter(Boolean);
  }
  // Labels and range are the detector's (output 0 of a detector is not a class list).
  const model = await openModel({ ...opts, labels: undefined, inputRange: undefined });
  try {
    const detector = toDetector(model, settings);
    const classes = opts.classes?.split(',').map((c) => c.trim()).filter(Boolean);
    const files = await expandInputs(inputs);
    if (!files.length) throw new GradcamError(`no images found in ${inputs.join(', ')}`);
    const stems = uniqueStems(files);
    await mkdir(opts.out, { recursive: true });
    const bar = progress(files.length, `detecting (${detector.config.layout})`);
    let done = 0;
    const summary: string[] = [];
    try {
      for (const [i, file] of files.entries()) {
        const [item] = await readImages([file]);
        if (!item) { bar.tick(); continue; }
        try {
          const [r] = await detect(detector, [item.image], {
            explain: opts.maps, method: opts.method, layer: opts.layer, classes,
            onWarning: (m) => process.stderr.write(`warning: ${m}\n`),
          });
          await writeDetections(opts.out, stems[i], file, item.image, r, detector, opts);
          done++;
          summary.push(`${stems[i]}  ${r.detections.length} box(es)${r.detections.map((d, k) => `\n  ${k} ${d.className} ${d.score.toFixed(2)} [${d.box.map((v) => Math.round(v)).join(', ')}]${d.peak !== undefined ? `  peak ${d.peak ? `(${d.peak.x}, ${d.peak.y})` : 'none'}  in box ${(100 * (d.energyInBox ?? 0)).toFixed(0)} %` : ''}`).join('')}`);
        } catch (e) {
          reportError(e, file);
        }
        bar.tick();
      }
    } finally {
      bar.stop();
    }
    if (summary.length <= 40) process.stdout.write(summary.map((l) => `${l}\n`).join(''));
    return done;
  } finally {
    model.dispose();
  }
}

export function register(program: Command): void {
  withModelOptions(program.command('detect')
    .description('object detection: boxes, and a map per box of what made the detector put it there (JSON + PNGs per image)')
    .argument('<images...>', 'image files or folders'))
    .option('-o, --out <dir>', 'output folder', 'out')
    .option('--min-score <s>', 'drop detections scoring below this (default: the layout\'s / metadata)', number('--min-score', 0, 1))
    .option('--iou <t>', 'NMS IoU threshold', number('--iou', 0, 1))
    .option('--max-detections <n>', 'at most this many boxes per image', number('--max-detections', 1, 10000))
    .option('--classes <list>', 'keep only these classes (comma-separated names or indices)')
    .option('--layout <name>', 'output layout: centernet, anchor-free, yolov8, yolov5 (default: recognised from the outputs)')
    .option('--method <name>', 'CAM method for the maps (default per layout, see README)')
    .option('-l, --layer <name>', "layer to explain, or 'auto' (per layout)", 'auto')
    .option('--no-maps', 'boxes only, no maps')
    .option('--colormap <name>', 'jet, viridis, inferno, magma, plasma, hot, rainbow, greys', 'jet')
    .option('--alpha <a>', 'heatmap opacity in the overlay, 0..1', Number, 0.5)
    .action(async (images: string[], opts: DetectCliOptions) => {
      const n = await runDetect(images, opts);
      process.stderr.write(`detected in ${n} image(s) → ${opts.out}/\n`);
    });
}

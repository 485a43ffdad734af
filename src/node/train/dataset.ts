/**
 * A training set on disk: a folder of class folders of images. Only paths are held in memory; images
 * are decoded batch by batch (see {@link loadBatch}), so datasets larger than RAM train fine.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { preprocess, type RgbImage } from '../../core/image.js';
import { GradcamError, type Preprocessing } from '../../model/types.js';
import { seededRandom } from '../../core/random.js';
import { IMAGE_EXTENSIONS, readImage } from '../image.js';

/** One labelled image file. */
export interface Sample {
  file: string;
  /** Index into {@link Dataset.classes}. */
  label: number;
}

/** A scanned dataset: class names (sorted folder names), training and validation samples. */
export interface Dataset {
  root: string;
  classes: string[];
  train: Sample[];
  val: Sample[];
  /** Where the validation samples come from. */
  valSource: 'folder' | 'split' | 'none';
  /** One-line warnings (unbalanced classes, …). */
  warnings: string[];
}

/** Options of {@link scanDataset}. */
export interface ScanOptions {
  /** Fraction of each class held out for validation when there is no `val/` folder (default 0.2). */
  valSplit?: number;
  /** Seed of the split. */
  seed?: number;
  /** Warn when the largest class has this many times the images of the smallest (default 5). */
  imbalance?: number;
}


/** Fisher–Yates shuffle in place. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

const subdirs = async (dir: string) =>
  (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b));

/** Image files under `dir`, recursively, sorted. */
async function imagesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await imagesIn(p)));
    else if (IMAGE_EXTENSIONS.test(e.name) && !e.name.startsWith('.')) out.push(p);
  }
  return out;
}

/**
 * Scans `root`: `root/<class>/**` images, or `root/train/<class>` + `root/val/<class>`. A `val/` folder
 * beside the class folders is the validation set; without one, `valSplit` of every class is held out
 * (stratified, seeded). Throws a {@link GradcamError} for fewer than two classes, an empty class or
 * a validation class the training set lacks; warns when the classes are wildly unbalanced.
 */
export async function scanDataset(root: string, opts: ScanOptions = {}): Promise<Dataset> {
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) throw new GradcamError('dataset folder not found (expected a folder of class folders of images)', root);
  let trainDir = root;
  let dirs = await subdirs(root);
  if (dirs.includes('train') && dirs.includes('val')) {
    trainDir = path.join(root, 'train');
    dirs = await subdirs(trainDir);
  } else {
    dirs = dirs.filter((d) => d !== 'val');
  }
  if (dirs.length < 2) {
    throw new GradcamError(`found ${dirs.length} class folder(s)${dirs.length ? ` (${dirs.join(', ')})` : ''}; a classifier needs at least two: <dataset>/<class>/<image>`, trainDir);
  }
  const classes = dirs;
  const perClass: string[][] = [];
  for (const c of classes) {
    const files = await imagesIn(path.join(trainDir, c));
    if (!files.length) throw new GradcamError(`class '${c}' has no images`, path.join(trainDir, c));
    perClass.push(files);
  }

  const valDir = path.join(root, 'val');
  const hasVal = (await stat(valDir).catch(() => undefined))?.isDirectory() ?? false;
  const split = opts.valSplit ?? 0.2;
  if (!(split >= 0 && split < 1)) throw new GradcamError(`the validation split must be in [0, 1), got ${split}`);
  const train: Sample[] = [];
  const val: Sample[] = [];
  if (hasVal) {
    for (const c of await subdirs(valDir)) {
      const label = classes.indexOf(c);
      if (label < 0) throw new GradcamError(`validation class '${c}' is not a training class (${classes.join(', ')})`, path.join(valDir, c));
      for (const file of await imagesIn(path.join(valDir, c))) val.push({ file, label });
    }
    perClass.forEach((files, label) => files.forEach((file) => train.push({ file, label })));
  } else {
    const random = seededRandom(opts.seed ?? 1);
    perClass.forEach((files, label) => {
      const mixed = shuffle([...files], random);
      const n = files.length > 1 ? Math.round(files.length * split) : 0;
      mixed.forEach((file, i) => (i < n ? val : train).push({ file, label }));
    });
  }

  const warnings: string[] = [];
  const counts = perClass.map((f) => f.length);
  const ratio = opts.imbalance ?? 5;
  const max = Math.max(...counts);
  const min = Math.min(...counts);
  if (max >= ratio * min) {
    const list = classes.map((c, i) => `${c} ${counts[i]}`).join(', ');
    warnings.push(`classes are unbalanced (${list}): the model may just learn to predict '${classes[counts.indexOf(max)]}'; add images to the small classes`);
  }
  return { root, classes, train, val, valSource: hasVal ? 'folder' : val.length ? 'split' : 'none', warnings };
}

/** A decoded batch: network inputs for the images that could be read, and their labels. */
export interface Batch {
  x: tf.Tensor4D;
  labels: number[];
}

/**
 * Shrinks a decoded image with sharp when it is at least 4× the network input on both sides, to about
 * 2× (what preprocessing's own area filter would average down to), so that a batch of large photos
 * never sits in memory as full-size tensors.
 */
async function shrink(img: RgbImage, [H, W]: [number, number]): Promise<RgbImage> {
  const f = Math.floor(Math.min(img.height / H, img.width / W) / 2);
  if (f < 2) return img;
  const { data, info } = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(Math.round(img.width / f), Math.round(img.height / f), { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

/**
 * Decodes, shrinks and preprocesses `samples` (in parallel with sharp; each image becomes a small
 * input tensor as soon as it is decoded). Unreadable files are reported through `onSkip` (file,
 * one-line reason) and left out; returns undefined when none could be read.
 */
export async function loadBatch(
  samples: Sample[], pre: Preprocessing, onSkip: (file: string, reason: string) => void,
): Promise<Batch | undefined> {
  const inputs = await Promise.all(samples.map(async (s) => {
    try {
      return preprocess(await shrink(await readImage(s.file), pre.size), pre);
    } catch (e) {
      onSkip(s.file, e instanceof GradcamError ? e.message : `${s.file}: ${(e as Error).message.split('\n')[0]}`);
      return undefined;
    }
  }));
  const ok = samples.map((s, i) => ({ s, x: inputs[i] })).filter((d) => d.x);
  if (!ok.length) return undefined;
  const x = tf.concat(ok.map((d) => d.x!)) as tf.Tensor4D;
  tf.dispose(ok.map((d) => d.x!));
  return { x, labels: ok.map((d) => d.s.label) };
}

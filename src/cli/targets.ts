/** Target options of the CLI: `--class`/`--target` strings, `--mask` for segment targets, `similar:<image>` files. */
import * as tf from '@tensorflow/tfjs';
import { preprocess } from '../core/image.js';
import type { ExplainableModel } from '../model/types.js';
import { readImage } from '../node/image.js';
import { parseTarget, resolveOutput, type SegmentMask, type Target } from '../targets/index.js';

/** A mask image as a segmentation mask: 1 where the pixel's luminance is above half, else 0. */
export async function readMask(file: string): Promise<SegmentMask> {
  const img = await readImage(file);
  const data = new Float32Array(img.width * img.height);
  for (let i = 0; i < data.length; i++) {
    const [r, g, b] = [img.data[3 * i], img.data[3 * i + 1], img.data[3 * i + 2]];
    data[i] = 0.299 * r + 0.587 * g + 0.114 * b > 127.5 ? 1 : 0;
  }
  return { data, width: img.width, height: img.height };
}

/** The model's output `output` (flattened) for one image file: the concept vector of `similar:<file>`. */
export async function embedding(model: ExplainableModel, file: string, output = 0): Promise<Float32Array> {
  const x = preprocess(await readImage(file), model.preprocessing);
  const outs = await model.run(x).finally(() => x.dispose());
  try {
    return (await outs[output].data()) as Float32Array;
  } finally {
    tf.dispose(outs);
  }
}

/**
 * Resolves the CLI's target strings for `model` (see `TARGET_FORMS`): `similar:<file>[,<file>…][@output]`
 * reads the files and takes the mean of the model's outputs for them as the concept vector (pytorch-grad-cam's
 * concept from reference images); `segment:` uses `mask` if given.
 */
export async function cliTargets(model: ExplainableModel, specs: string[], maskFile?: string): Promise<Target[]> {
  const mask = maskFile ? await readMask(maskFile) : undefined;
  const similar: Record<string, Float32Array> = {};
  for (const spec of specs) {
    const m = /^similar:(.+?)(?:@([^@]+))?$/i.exec(spec.trim());
    if (!m) continue;
    // Several reference images (comma-separated): the mean of their outputs is the concept.
    const output = m[2] === undefined ? 0 : resolveOutput(model, m[2]);
    const vectors = await Promise.all(m[1].split(',').map((f) => embedding(model, f.trim(), output)));
    similar[m[1]] = vectors[0].map((_, i) => vectors.reduce((s, v) => s + v[i], 0) / vectors.length);
  }
  return specs.map((s) => parseTarget(s, model, { mask, similar }));
}

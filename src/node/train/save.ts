/** Writes a LayersModel as model.json + one weight file + metadata.json, loadable by every gradcam tool. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ModelMetadata } from '../../model/load.js';
import { GradcamError } from '../../model/types.js';

/**
 * Saves `model` into `dir` (created if needed): `model.json`, `weights.bin` and `metadata.json`
 * (labels, preprocessing and anything else given). tfjs-node's `file://` handler is not available,
 * so the files are written here through `tf.io.withSaveHandler`.
 */
export async function saveModel(model: tf.LayersModel, dir: string, metadata: ModelMetadata & Record<string, unknown>): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new GradcamError(`cannot create the output folder (${(e as Error).message})`, dir);
  }
  await model.save(tf.io.withSaveHandler(async (a) => {
    const weights = tf.io.CompositeArrayBuffer.join(a.weightData);
    const json = {
      format: a.format, generatedBy: a.generatedBy, convertedBy: 'gradcam train',
      modelTopology: a.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }],
    };
    await writeFile(path.join(dir, 'weights.bin'), new Uint8Array(weights));
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
  }));
  await writeFile(path.join(dir, 'metadata.json'), JSON.stringify(metadata, null, 1) + '\n');
}

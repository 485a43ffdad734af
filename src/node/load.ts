import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_MODEL_URL, KERAS_FILE, loadModelFromBytes, modelFromArtifacts, type LoadOptions, type ModelMetadata } from '../model/load.js';
import { loadOnnxFile } from '../model/onnx/node.js';
import { GradcamError, type ExplainableModel } from '../model/types.js';

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** Where downloaded models are cached: `$GRADCAM_CACHE`, else `~/.cache/gradcam`. */
export function cacheDir(): string {
  return process.env.GRADCAM_CACHE ?? path.join(os.homedir(), '.cache', 'gradcam');
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes the weights manifest asks for. */
function expectedBytes(manifest: tf.io.WeightsManifestConfig): number {
  let total = 0;
  for (const group of manifest) {
    for (const w of group.weights) {
      const per = BYTES[w.quantization?.dtype ?? w.dtype] ?? 4;
      total += w.shape.reduce((a, b) => a * b, 1) * per;
    }
  }
  return total;
}

async function readJson<T>(file: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GradcamError(code === 'ENOENT' ? `${what} not found` : `cannot read ${what}: ${(e as Error).message}`, file);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new GradcamError(`${what} is not valid JSON (${(e as Error).message})`, file);
  }
}

/** Reads model.json, its weight shards and metadata.json from disk, checking each. */
async function loadFromDisk(jsonPath: string, opts: LoadOptions, source: string): Promise<ExplainableModel> {
  const modelJson = await readJson<tf.io.ModelJSON>(jsonPath, 'model.json');
  if (!modelJson || typeof modelJson !== 'object' || !modelJson.modelTopology) {
    throw new GradcamError('model.json has no modelTopology: not a TF.js model', jsonPath);
  }
  const dir = path.dirname(jsonPath);
  const artifacts = await tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      for (const p of group.paths) {
        const file = path.join(dir, decodeURIComponent(p));
        try {
          const b = await readFile(file);
          buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
        } catch {
          throw new GradcamError('weight file listed in model.json is missing', file);
        }
      }
    }
    const data = tf.io.concatenateArrayBuffers(buffers);
    const want = expectedBytes(manifest);
    if (data.byteLength !== want) {
      throw new GradcamError(`weight files hold ${data.byteLength} bytes but model.json describes ${want}: truncated or mismatched shards`, dir);
    }
    return [manifest.flatMap((g) => g.weights), data];
  });
  const metaPath = path.join(dir, 'metadata.json');
  const metadata = existsSync(metaPath) ? await readJson<ModelMetadata>(metaPath, 'metadata.json') : {};
  return modelFromArtifacts(artifacts, source, metadata, opts);
}

async function download(url: string, file: string, optional = false): Promise<boolean> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new GradcamError(`cannot download (${(e as Error).message}); check the URL, or use a local model folder`, url);
  }
  if (!res.ok) {
    if (optional) return false;
    throw new GradcamError(`download failed: HTTP ${res.status}`, url);
  }
  await writeFile(file, Buffer.from(await res.arrayBuffer()));
  return true;
}

/**
 * Downloads model.json, its shards and (if present) metadata.json from `url` into the cache once;
 * returns the cached model.json path.
 */
export async function cacheModel(url: string): Promise<string> {
  const dir = path.join(cacheDir(), 'models', createHash('sha256').update(url).digest('hex').slice(0, 16));
  const jsonPath = path.join(dir, 'model.json');
  if (existsSync(jsonPath)) return jsonPath;
  const tmp = `${dir}.part-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    await download(url, path.join(tmp, 'model.json'));
    const json = await readJson<tf.io.ModelJSON>(path.join(tmp, 'model.json'), 'model.json');
    for (const p of (json.weightsManifest ?? []).flatMap((g) => g.paths)) {
      await download(new URL(p, url).href, path.join(tmp, path.basename(decodeURIComponent(p))));
    }
    await download(new URL('metadata.json', url).href, path.join(tmp, 'metadata.json'), true);
    await mkdir(path.dirname(dir), { recursive: true });
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return jsonPath;
}

/**
 * Loads a LayersModel or GraphModel for explaining.
 *
 * @param source a folder holding model.json, a model.json path, a Keras `.keras`/`.h5` file, or an
 *   http(s) URL of either (downloaded once into {@link cacheDir}). Defaults to the official hosted
 *   MobileNet v1 α=0.75.
 * @example
 * ```ts
 * const model = await loadModel('../shared/models/mobilenet_v1_0.25_224');
 * console.log(model.defaultLayer); // conv_pw_13_relu
 * ```
 */
export async function loadModel(source: string = DEFAULT_MODEL_URL, opts: LoadOptions = {}): Promise<ExplainableModel> {
  if (isUrl(source) && KERAS_FILE.test(new URL(source).pathname)) return loadKerasFile(await cacheFile(source), opts, source);
  if (isUrl(source)) return loadFromDisk(await cacheModel(source), opts, source);
  if (/\.onnx$/i.test(source)) return loadOnnxFile(source, { labels: opts.labels, preprocessing: opts.preprocessing }); // PyTorch exports (issue 14)
  let jsonPath = source;
  const info = await stat(source).catch(() => undefined);
  if (!info) throw new GradcamError('model not found (give a folder with model.json, a model.json file, a .keras/.h5 file or a URL)', source);
  if (info.isDirectory()) jsonPath = path.join(source, 'model.json');
  else if (KERAS_FILE.test(source) || await isKerasMagic(source)) return loadKerasFile(source, opts, source);
  return loadFromDisk(jsonPath, opts, source);
}

/** Whether a file starts like a `.keras` zip or an HDF5 `.h5` (for Keras files under other names). */
async function isKerasMagic(file: string): Promise<boolean> {
  const { open } = await import('node:fs/promises');
  const fh = await open(file, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const { buffer } = await fh.read(Buffer.alloc(8), 0, 8, 0);
    return buffer.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1')) || buffer.equals(Buffer.from('\x89HDF\r\n\x1a\n', 'latin1'));
  } finally {
    await fh.close();
  }
}

/** Loads a Keras `.keras`/`.h5` file; `metadata.json` beside it (labels, preprocessing) is read if present. */
async function loadKerasFile(file: string, opts: LoadOptions, source: string): Promise<ExplainableModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new GradcamError(`cannot read the model: ${(e as Error).message}`, source);
  }
  const metaPath = path.join(path.dirname(file), 'metadata.json');
  const metadata = existsSync(metaPath) ? await readJson<ModelMetadata>(metaPath, 'metadata.json') : {};
  return loadModelFromBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), source, opts, metadata);
}

/** Downloads a single-file model (`.keras`, `.h5`) into the cache once; returns its path. */
async function cacheFile(url: string): Promise<string> {
  const dir = path.join(cacheDir(), 'models', createHash('sha256').update(url).digest('hex').slice(0, 16));
  const file = path.join(dir, path.basename(new URL(url).pathname));
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.part-${process.pid}`;
  try {
    await download(url, tmp);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return file;
}

/**
 * Node-only: loads a `.onnx` file with onnxruntime-node, reading `<model>.json` and external weight
 * data from beside it. (The isomorphic loader in load.ts never imports onnxruntime-node.)
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { GradcamError } from '../types.js';
import { loadOnnxFromBytes, type OnnxLoadOptions, type OnnxMetadata } from './load.js';
import type { OnnxExplainableModel } from './model.js';
import type { OrtModule } from './ort.js';
import { workerOrt } from './ort-pool.js';

const asBytes = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** Loads `file` (a .onnx path). `<name>.json` beside it gives labels, preprocessing and the target layer. */
export async function loadOnnxFile(file: string, opts: OnnxLoadOptions = {}): Promise<OnnxExplainableModel> {
  let bytes: Uint8Array;
  try {
    bytes = asBytes(await readFile(file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GradcamError(code === 'ENOENT' ? 'model not found' : `cannot read the model: ${(e as Error).message}`, file);
  }
  const dir = path.dirname(file);
  const jsonPath = file.replace(/\.onnx$/i, '.json');
  let metadata: OnnxMetadata | undefined = opts.metadata;
  if (!metadata && existsSync(jsonPath)) {
    try {
      metadata = JSON.parse(await readFile(jsonPath, 'utf8')) as OnnxMetadata;
    } catch (e) {
      throw new GradcamError(`not valid JSON (${(e as Error).message})`, jsonPath);
    }
  }
  const workers = opts.ortOptions?.workers ?? Math.min(4, availableParallelism());
  const ort = opts.ort ?? (workers > 0 ? workerOrt(workers) : ((await import('onnxruntime-node')) as unknown as OrtModule));
  return loadOnnxFromBytes(bytes, file, {
    ...opts,
    ort,
    metadata,
    readExternal: opts.readExternal ?? (async (location) => {
      const p = path.resolve(dir, location);
      if (!existsSync(p)) return undefined;
      return asBytes(await readFile(p));
    }),
  });
}

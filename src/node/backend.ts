import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** Backends available in Node. `wasm` is the default; `cpu` is pure JS and has every gradient kernel. */
export type NodeBackend = 'wasm' | 'cpu';

let wasmPathSet = false;

/**
 * Selects the TF.js backend in Node. The wasm binaries are loaded from the installed
 * `@tensorflow/tfjs-backend-wasm` package, never from the network.
 */
export async function initBackend(name: NodeBackend = 'wasm'): Promise<string> {
  if (name === 'wasm' && !wasmPathSet) {
    const require = createRequire(import.meta.url);
    setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
    wasmPathSet = true;
  }
  tf.enableProdMode(); // silences the "install tfjs-node" banner; tfjs-node cannot be used here
  if (tf.getBackend() !== name && !(await tf.setBackend(name))) {
    throw new Error(`the TF.js backend '${name}' could not be initialised`);
  }
  return tf.getBackend();
}

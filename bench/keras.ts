/**
 * Keras files: load time in Node (read → unzip → HDF5 → build → weights) of the shared models, and
 * what the Keras reader adds to a browser bundle (the lazily imported chunk, minified + gzipped),
 * next to the HDF5 alternative h5wasm.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/node/backend.js';
import { loadModel } from '../src/node/load.js';
import { buildKerasModel } from '../src/model/keras/index.js';
import { child, isDataset, isGroup, openHdf5, readFloat32, type H5Dataset, type H5Group } from '../src/model/keras/hdf5.js';
import { unzipSync } from 'fflate';
import { REPO_ROOT, SHARED_DIR } from '../scripts/shared.js';
import { ms, table, time } from './util.js';

const KERAS = path.join(SHARED_DIR, 'models', 'keras');

/** Minified and gzipped size of `entry` bundled for the browser, TF.js left out (the app has it already). */
async function bundleSize(source: string): Promise<{ min: number; gz: number }> {
  const esbuild = await import('esbuild');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gradcam-bundle-'));
  try {
    const entry = path.join(dir, 'entry.ts');
    await writeFile(entry, source);
    const out = await esbuild.build({
      entryPoints: [entry], bundle: true, minify: true, format: 'esm', platform: 'browser', write: false,
      external: ['@tensorflow/*'], nodePaths: [path.join(REPO_ROOT, 'node_modules')], logLevel: 'silent',
    });
    const code = out.outputFiles[0].contents;
    return { min: code.length, gz: gzipSync(code, { level: 9 }).length };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export default async function (): Promise<void> {
  await initBackend('wasm');
  const rows: (string | number)[][] = [];
  for (const name of ['potato.keras', 'dogscats.h5']) {
    const file = path.join(KERAS, name);
    const bytes = new Uint8Array(readFileSync(file));
    const build = await time(async () => (await buildKerasModel(bytes)).model.dispose(), 5);
    const load = await time(async () => (await loadModel(file, { preprocessing: { range: [0, 255] } })).dispose(), 5);
    const model = await loadModel(file, { preprocessing: { range: [0, 255] } });
    const [, h, w] = [0, ...model.preprocessing.size];
    const x = tf.zeros([1, h, w, model.preprocessing.channels ?? 3]) as tf.Tensor4D;
    const forward = await time(async () => tf.dispose(await model.run(x)), 5);
    tf.dispose(x);
    model.dispose();
    rows.push([name, `${(bytes.length / 2 ** 20).toFixed(1)} MB`, ms(build.median), ms(load.median), ms(forward.median)]);
  }
  console.log('Load time in Node (wasm backend, median of 5):\n');
  table(['file', 'size', 'build from bytes', 'loadModel(path)', 'one forward pass'], rows);

  // Reading the weights: the contiguous-float32 copy vs jsfive's element-by-element reader.
  const h5 = openHdf5(unzipSync(new Uint8Array(readFileSync(path.join(KERAS, 'potato.keras'))))['model.weights.h5']);
  const datasets: H5Dataset[] = [];
  const walk = (g: H5Group) => g.keys.forEach((k) => { const c = child(g, k); if (isGroup(c)) walk(c); else if (isDataset(c)) datasets.push(c); });
  walk(h5);
  const fast = await time(() => datasets.forEach((d) => readFloat32(d)), 5);
  const slow = await time(() => datasets.forEach((d) => Float32Array.from(d.value as ArrayLike<number>)), 3);
  console.log(`\nReading potato's ${datasets.length} weight arrays: ${ms(fast.median)} (contiguous copy) vs ${ms(slow.median)} (jsfive's reader)`);

  const sizes = [
    ['Keras reader (src/model/keras: fflate + jsfive + translation + layers)', await bundleSize(`export { buildKerasModel } from '${path.join(REPO_ROOT, 'src/model/keras/index.ts')}';`)],
    ['  of which jsfive', await bundleSize(`import * as h from 'jsfive'; console.log(h.File);`)],
    ['  of which fflate unzipSync', await bundleSize(`import { unzipSync } from 'fflate'; console.log(unzipSync);`)],
    ['h5wasm instead of jsfive (not used)', await bundleSize(`import * as h from 'h5wasm'; console.log(h.File, h.ready);`)],
  ] as const;
  console.log('\nBrowser bundle cost (esbuild, minified; TF.js excluded; loaded only when a Keras file is opened):\n');
  table(['code', 'minified', 'gzipped'], sizes.map(([n, s]) => [n, `${(s.min / 1024).toFixed(0)} KB`, `${(s.gz / 1024).toFixed(0)} KB`]));
}

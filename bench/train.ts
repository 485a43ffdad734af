/**
 * `gradcam train` speed on a fixed synthetic set (3 classes × 40 images of 224², 20 % validation):
 * seconds per epoch and training images per second, by base and mode. "cached" = no augmentation, the
 * frozen base's pooled features computed once (that pass is timed separately); "augmented" = decode,
 * augment and run the base every epoch; "fine-tune 1" = augmented, and the last block trained too
 * (tap-sum convolutions; on wasm the frozen part is the same, on cpu everything is cpu). Epoch time:
 * the faster of epochs 2–3 (epoch 1 warms up).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend, type NodeBackend } from '../src/node/backend.js';
import { makeShapesDataset } from '../src/node/train/synthetic.js';
import { trainClassifier, type TrainOptions } from '../src/node/train/train.js';
import { MODEL_025, MODEL_075, sharedImage } from '../scripts/shared.js';
import { table } from './util.js';

const BACKGROUNDS = ['cat_dog.jpg', 'both.png', 'dogs.png', 'vegetables.jpg', 'chelsea.png', 'coffee.png', 'grace_hopper.jpg', 'squirrel_cls.jpg'].map(sharedImage);

export default async function run(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradcam-bench-train-'));
  try {
    await makeShapesDataset(dir, { backgrounds: BACKGROUNDS, shapes: ['rings', 'checker', 'triangle'], perClass: 40, seed: 1 });
    const modes: [string, NodeBackend, Partial<TrainOptions>][] = [
      ['cached', 'wasm', { augment: false }],
      ['augmented', 'wasm', {}],
      ['fine-tune 1', 'wasm', { fineTune: 1 }],
      ['fine-tune 1', 'cpu', { fineTune: 1 }],
    ];
    const rows: (string | number)[][] = [];
    for (const [name, base] of [['α=0.25', MODEL_025], ['α=0.75', MODEL_075]]) {
      for (const [mode, backend, opts] of modes) {
        if (backend === 'cpu' && base === MODEL_075) continue;
        await initBackend(backend);
        let first = 0, last = 0;
        const r = await trainClassifier(dir, {
          base, epochs: 3, patience: 0, ...opts,
          onProgress: (p) => { if (p.phase === 'features') { first ||= performance.now(); last = performance.now(); } },
        });
        r.model.dispose();
        const epoch = r.history.slice(1).map((h) => h.seconds).sort((a, b) => a - b)[0];
        rows.push([name, mode, backend, first ? `${((last - first) / 1000).toFixed(2)} s` : '–', `${epoch.toFixed(2)} s`, (r.images.train / epoch).toFixed(0), `${(r.report.accuracy * 100).toFixed(0)} %`]);
      }
    }
    await initBackend('wasm');
    table(['base', 'mode', 'backend', 'features pass', 'epoch', 'train images/s', 'val accuracy (3 epochs)'], rows);
    console.log('\n96 training + 24 validation images. "features pass": the base run once over the images whose features are cached (all 120 when cached; the 24 validation images when augmented).');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

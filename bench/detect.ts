/**
 * `npm run bench -- detect`: the shared detectors on wasm (one thread): one forward pass, detection
 * without maps (forward + decoding + NMS), and detection with a map per box (default method and
 * layer), per image; the time per box is (with maps − without) / boxes, also as a ratio to one forward.
 */
import * as tf from '@tensorflow/tfjs';
import { detect, detectorInput, toDetector } from '../src/detect/detect.js';
import { initBackend } from '../src/node/backend.js';
import { readImage } from '../src/node/image.js';
import { loadModel } from '../src/node/load.js';
import { sharedImage, sharedModel } from '../scripts/shared.js';
import { ms, table, time } from './util.js';

export default async function run(): Promise<void> {
  await initBackend((process.env.BACKEND as 'wasm' | 'cpu') ?? 'wasm');
  const rows: (string | number)[][] = [];
  for (const name of ['centernet', 'nanodet']) {
    const detector = toDetector(await loadModel(sharedModel(`detect/${name}`)));
    for (const file of ['cat_dog.jpg', 'dogs.png', 'vegetables.jpg']) {
      const img = await readImage(sharedImage(file));
      const x = detectorInput(img, detector.config);
      const forward = await time(async () => tf.dispose(await detector.model.run(x)), 3);
      x.dispose();
      const boxes = await time(() => detect(detector, [img], { explain: false }), 3);
      const [r] = await detect(detector, [img]);
      const k = r.detections.length;
      if (!k) continue;
      const maps = await time(() => detect(detector, [img]), 3);
      const perBox = (maps.median - boxes.median) / k;
      rows.push([name, file, k, ms(forward.median), ms(boxes.median), ms(maps.median), ms(perBox), `${(perBox / forward.median).toFixed(2)}×`, r.layer!.split('/').slice(-2).join('/'), r.method!]);
    }
    detector.model.dispose();
  }
  table(['detector', 'image', 'boxes', 'forward', 'boxes only', 'boxes + maps', 'per box', 'per box / forward', 'layer', 'method'], rows);
}

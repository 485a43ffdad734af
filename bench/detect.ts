/**
 * `npm run bench -- detect`: the shared detectors on wasm (one thread): one forward pass, detection
 * without maps (forward + decoding + NMS), and detection with a map per box (default method and
 * layer); the time per box is (with maps − without) / boxes, also as a ratio to one forward. Times are
 * this process's CPU time (user + system), which is what one core spends even when the machine is
 * shared; wall-clock medians are printed too.
 */
import * as tf from '@tensorflow/tfjs';
import { detect, detectorInput, toDetector } from '../src/detect/detect.js';
import { initBackend } from '../src/node/backend.js';
import { readImage } from '../src/node/image.js';
import { loadModel } from '../src/node/load.js';
import { sharedImage, sharedModel } from '../scripts/shared.js';
import { table } from './util.js';

/** Median CPU and wall milliseconds of `fn` over `runs` runs after one warm-up. */
async function cpuTime(fn: () => Promise<unknown>, runs = 3): Promise<{ cpu: number; wall: number }> {
  await fn();
  const cpu: number[] = [], wall: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage(), t = performance.now();
    await fn();
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
    wall.push(performance.now() - t);
  }
  const med = (v: number[]) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
  return { cpu: med(cpu), wall: med(wall) };
}

const f = (v: number) => `${Math.round(v)} ms`;

export default async function run(): Promise<void> {
  await initBackend((process.env.BACKEND as 'wasm' | 'cpu') ?? 'wasm');
  const rows: (string | number)[][] = [];
  for (const name of ['centernet', 'nanodet']) {
    const detector = toDetector(await loadModel(sharedModel(`detect/${name}`)));
    for (const file of ['cat_dog.jpg', 'dogs.png', 'vegetables.jpg']) {
      const img = await readImage(sharedImage(file));
      const x = detectorInput(img, detector.config);
      const forward = await cpuTime(async () => tf.dispose(await detector.model.run(x)));
      x.dispose();
      const [r] = await detect(detector, [img]);
      const k = r.detections.length;
      if (!k) continue;
      const boxes = await cpuTime(() => detect(detector, [img], { explain: false }));
      const maps = await cpuTime(() => detect(detector, [img]), 2);
      const perBox = (maps.cpu - boxes.cpu) / k;
      rows.push([name, file, k, f(forward.cpu), f(boxes.cpu), f(maps.cpu), f(perBox), `${(perBox / forward.cpu).toFixed(2)}×`, `${f(forward.wall)} / ${f((maps.wall - boxes.wall) / k)}`]);
    }
    detector.model.dispose();
  }
  table(['detector', 'image', 'boxes', 'forward', 'boxes only', 'boxes + maps', 'per box', 'per box / forward', 'wall: forward / per box'], rows);
}

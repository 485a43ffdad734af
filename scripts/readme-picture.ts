/**
 * Regenerates docs/chelsea-gradcam.png, the README picture: chelsea.png (scikit-image, CC0) and its
 * Grad-CAM overlay for the top class, side by side. `npx tsx scripts/readme-picture.ts`
 */
import sharp from 'sharp';
import { explain, initBackend, loadModel, overlay, readImage } from '../src/node/index.js';
import { MODEL_075, REPO_ROOT, sharedImage } from './shared.js';
import path from 'node:path';

await initBackend('wasm');
const model = await loadModel(MODEL_075);
const image = await readImage(sharedImage('chelsea.png'));
const [r] = await explain(model, [image]);
const o = overlay(image, r.targets[0].heatmap, { alpha: 0.5 });
const raw = (d: { data: Uint8Array | Uint8ClampedArray; width: number; height: number }) =>
  sharp(Buffer.from(d.data), { raw: { width: d.width, height: d.height, channels: 3 } }).png().toBuffer();
const out = path.join(REPO_ROOT, 'docs', 'chelsea-gradcam.png');
await sharp({ create: { width: image.width * 2 + 8, height: image.height, channels: 3, background: '#ffffff' } })
  .composite([{ input: await raw(image), left: 0, top: 0 }, { input: await raw(o), left: image.width + 8, top: 0 }])
  .png({ compressionLevel: 9, palette: true }).toFile(out);
console.log(`${r.targets[0].className} (${(r.targets[0].probability * 100).toFixed(1)}%) → ${out}`);

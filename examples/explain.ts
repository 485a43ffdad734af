/**
 * The README's library example, runnable: `npx tsx examples/explain.ts [image] [model]`.
 * Explains the tiger cat and the bull mastiff in cat_dog.jpg and writes two overlays.
 */
import { writeFile } from 'node:fs/promises';
import { encodePng, explain, initBackend, loadModel, overlay, readImage } from '../src/node/index.js';
import { MODEL_075, sharedImage } from '../scripts/shared.js';

const [imagePath = sharedImage('cat_dog.jpg'), modelSource = MODEL_075] = process.argv.slice(2);

await initBackend('wasm');
const model = await loadModel(modelSource); // folder, model.json or URL; labels from metadata.json
const image = await readImage(imagePath);
const [result] = await explain(model, [image], { targets: ['tiger cat', 243], layer: 'auto' });
for (const t of result.targets) {
  const rgb = overlay(image, t.heatmap, { colormap: 'jet', alpha: 0.5 });
  await writeFile(`example.${t.classIndex}.png`, await encodePng(rgb.data, rgb.width, rgb.height));
  console.log(`${t.className}: logit ${t.logit.toFixed(2)}, p=${t.probability.toFixed(3)}, peak at (${t.peak?.x}, ${t.peak?.y}) → example.${t.classIndex}.png`);
}
model.dispose();

/**
 * The README's Targets example, runnable: `npx tsx examples/targets.ts [image] [model]`.
 * Why "tiger cat" rather than "bull mastiff", a custom target, and two layers fused.
 */
import * as tf from '@tensorflow/tfjs';
import { classTarget, contrast, explain, initBackend, loadModel, readImage, type Target } from '../src/node/index.js';
import { MODEL_075, sharedImage } from '../scripts/shared.js';

const [imagePath = sharedImage('cat_dog.jpg'), modelSource = MODEL_075] = process.argv.slice(2);

await initBackend('wasm');
const model = await loadModel(modelSource);
const image = await readImage(imagePath);
// Any object with a name and a differentiable score over the model's outputs (one value per row) is a target.
const cats: Target = {
  name: 'any domestic cat (281–285)',
  score: (outputs) => outputs[0].reshape([outputs[0].shape[0], -1]).slice([0, 281], [-1, 5]).sum(1) as tf.Tensor1D,
};
const [result] = await explain(model, [image], {
  targets: ['contrast:282-243', contrast(243, 282), cats, classTarget(282)],
  layer: ['conv_pw_11_relu', 'conv_pw_13_relu'], // one map per layer, normalised and upsampled, then averaged
});
for (const t of result.targets) console.log(`${t.target}: score ${t.score.toFixed(2)}, peak at (${t.peak?.x}, ${t.peak?.y})`);
model.dispose();

/**
 * Node entry point: everything in the isomorphic API, plus loading models from folders and URLs
 * (with an on-disk cache), decoding and encoding images with sharp, and the wasm backend.
 * @example
 * ```ts
 * import { initBackend, loadModel, readImage, explain, overlay, encodePng } from 'gradcam/node';
 * await initBackend('wasm');
 * const model = await loadModel('../shared/models/mobilenet_v1_0.75_224');
 * const image = await readImage('../shared/images/cat_dog.jpg');
 * const [result] = await explain(model, [image], { targets: ['tiger cat', 243] });
 * const rgb = overlay(image, result.targets[0].heatmap, { colormap: 'jet', alpha: 0.5 });
 * await writeFile('tiger_cat.png', await encodePng(rgb.data, rgb.width, rgb.height));
 * ```
 * @module gradcam/node
 */
export * from '../index.js';
export { initBackend } from './backend.js';
export type { NodeBackend } from './backend.js';
export { cacheDir, cacheModel, loadModel } from './load.js';
export { encodePng, readImage, MAX_PIXELS } from './image.js';
export { trainClassifier } from './train/train.js';
export type { EpochStats, TrainOptions, TrainProgress, TrainResult } from './train/train.js';
export type { AugmentOptions } from './train/augment.js';
export { scanDataset } from './train/dataset.js';
export type { Dataset, Sample, ScanOptions } from './train/dataset.js';
export { saveModel } from './train/save.js';
export { classificationReport, formatReport } from './train/report.js';
export type { ClassificationReport, ClassMetrics } from './train/report.js';

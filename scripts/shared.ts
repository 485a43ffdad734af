/**
 * The one place that knows where the read-only data beside the repository lives (`../shared`, or
 * `$GRADCAM_SHARED`). Tests, the demo, benchmarks and the web dev server read models and images
 * from here; nothing from it is ever copied into the repository.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED_DIR = process.env.GRADCAM_SHARED ?? path.resolve(REPO_ROOT, '..', 'shared');

/** A shared model folder, e.g. `mobilenet_v1_0.25_224`. */
export const sharedModel = (name: string) => path.join(SHARED_DIR, 'models', name);
/** A shared image, e.g. `cat_dog.jpg`. */
export const sharedImage = (name: string) => path.join(SHARED_DIR, 'images', name);
/** The pytorch-grad-cam reference folder. */
export const REFERENCE_DIR = path.join(SHARED_DIR, 'reference');

export const MODEL_025 = sharedModel('mobilenet_v1_0.25_224');
export const MODEL_075 = sharedModel('mobilenet_v1_0.75_224');
export const MODEL_GRAPH = sharedModel('mobilenet_v1_0.25_224_graph');

/**
 * Keras model files, read directly (no Python, no converter): `.keras` (Keras 3: a zip of
 * `config.json`, `metadata.json` and `model.weights.h5`) and full-model `.h5` (Keras 2: root
 * attribute `model_config` and the `model_weights` group). The config is translated for
 * tfjs-layers, the model built with `tf.models.modelFromJSON`, and every weight set from the HDF5.
 * Works in Node and the browser (fflate for the zip, jsfive for HDF5: both pure JavaScript).
 */
import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import { translateConfig, KerasConfigError, type Json, type LayerNode } from './config.js';
import { errorText, isHdf5, openHdf5, isGroup, child, stringAttr } from './hdf5.js';
import './layers.js'; // registers the Keras preprocessing layers
import { KerasWeightsError, loadKeras2Weights, loadKeras3Weights } from './weights.js';

export { snakeCase } from './weights.js';
export { translateConfig } from './config.js';

/** Zip local-file header. */
const isZip = (b: Uint8Array) => b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5) && (b[3] === 4 || b[3] === 6);

/** Whether `name` (by extension) or `bytes` (by magic number) is a Keras model file. */
export function isKerasFile(name: string, bytes?: Uint8Array): boolean {
  if (/\.(keras|h5|hdf5)$/i.test(name)) return true;
  return !!bytes && (isZip(bytes) || isHdf5(bytes));
}

/** A Keras file problem, one line (the caller prefixes the file). */
export class KerasFileError extends Error {}

/** What the model file says about itself beyond the layers. */
export interface KerasModelInfo {
  /** 3 for `.keras`, 2 for legacy `.h5`. */
  kerasFormat: 2 | 3;
  kerasVersion?: string;
  /** The model's name in its config. */
  configName?: string;
  /** Whether the model's first computing layer is Rescaling, Normalization or `preprocess_input` arithmetic: it wants raw 0–255 pixels. */
  rescalesInput: boolean;
  /** Labels/preprocessing found in the zip's `metadata.json` (not written by Keras, but honoured). */
  metadata: { labels?: string[]; classNames?: string[]; classes?: string[]; name?: string; preprocessing?: Json };
}

/** Layers that pass an image through unchanged in value range (looked through when finding a leading Rescaling). */
const RANGE_NEUTRAL = /^(InputLayer|Resizing|CenterCrop|Random\w+|Cropping2D|ZeroPadding2D|Dropout|GaussianNoise|GaussianDropout|Reshape|Permute|ActivityRegularization)$/;

/** Whether the first value-changing layer (through nested models) is Rescaling, Normalization or arithmetic with a constant (`preprocess_input`). */
function rescalesInput(node: LayerNode): boolean {
  for (const l of node.layers ?? []) {
    if (l.layers) {
      const inner = l.layers.filter((x) => x.className !== 'InputLayer');
      if (!inner.length) continue;
      if (rescalesInput(l)) return true;
      if (!inner.every((x) => RANGE_NEUTRAL.test(x.className))) return false;
      continue;
    }
    if (l.className === 'Rescaling' || l.className === 'Normalization' || l.config.op !== undefined) return true; // op: x / 127.5 - 1 etc.
    if (!RANGE_NEUTRAL.test(l.className)) return false;
  }
  return false;
}

const decoder = new TextDecoder();

function parseJson(bytes: Uint8Array | string, what: string): Json {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : decoder.decode(bytes)) as Json;
  } catch (e) {
    throw new KerasFileError(`${what} is not valid JSON (${errorText(e)})`);
  }
}

interface Parsed {
  config: Json;
  info: Omit<KerasModelInfo, 'rescalesInput' | 'configName'>;
  setWeights(model: tf.LayersModel, root: LayerNode): void;
}

function parseKeras3(bytes: Uint8Array): Parsed {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, { filter: (f) => /^(config\.json|metadata\.json|model\.weights\.h5)$/.test(f.name) });
  } catch (e) {
    throw new KerasFileError(`not a readable .keras file: the zip is truncated or corrupt (${errorText(e)})`);
  }
  if (!files['config.json']) throw new KerasFileError('not a .keras model: the zip has no config.json');
  if (!files['model.weights.h5']) throw new KerasFileError('the .keras file has no model.weights.h5 (weights saved separately are not supported)');
  const config = parseJson(files['config.json'], 'config.json');
  const metadata = files['metadata.json'] ? parseJson(files['metadata.json'], 'metadata.json') : {};
  let h5;
  try {
    h5 = openHdf5(files['model.weights.h5']);
  } catch (e) {
    throw new KerasFileError(`model.weights.h5: ${errorText(e)}`);
  }
  return {
    config,
    info: { kerasFormat: 3, kerasVersion: typeof metadata.keras_version === 'string' ? metadata.keras_version : undefined, metadata: metadata as KerasModelInfo['metadata'] },
    setWeights: (model, root) => loadKeras3Weights(model, root, h5),
  };
}

function parseKeras2(bytes: Uint8Array): Parsed {
  let h5;
  try {
    h5 = openHdf5(bytes);
  } catch (e) {
    throw new KerasFileError(errorText(e));
  }
  const text = stringAttr(h5, 'model_config');
  if (!text) {
    const weightsOnly = child(h5, 'layers') || child(h5, 'model_weights') || stringListAttr0(h5);
    throw new KerasFileError(weightsOnly
      ? 'the .h5 file holds weights only (no model_config); save the whole model with model.save(), or use a .keras file'
      : 'not a Keras model: the HDF5 file has no model_config attribute');
  }
  const config = parseJson(text, 'model_config');
  const mw = child(h5, 'model_weights');
  const weights = mw && isGroup(mw) ? mw : h5; // very old files keep the layer groups at the root
  return {
    config,
    info: { kerasFormat: 2, kerasVersion: stringAttr(h5, 'keras_version'), metadata: {} },
    setWeights: (model, root) => loadKeras2Weights(model, root, weights),
  };
}

/** `save_weights` files (Keras 2) have `layer_names` at the root. */
const stringListAttr0 = (g: { attrs: Record<string, unknown> }) => g.attrs.layer_names !== undefined;

/**
 * Builds a TF.js LayersModel from the bytes of a `.keras` or `.h5` file. Errors are
 * {@link KerasFileError}s with a one-line message (the caller names the file).
 */
export async function buildKerasModel(bytes: Uint8Array): Promise<{ model: tf.LayersModel; info: KerasModelInfo }> {
  let parsed: Parsed;
  if (isZip(bytes)) parsed = parseKeras3(bytes);
  else if (isHdf5(bytes)) parsed = parseKeras2(bytes);
  else if (bytes.length < 8) throw new KerasFileError('file is empty or truncated');
  else throw new KerasFileError('not a Keras model file (neither a .keras zip nor an HDF5 .h5)');

  // Keras 2 wraps {class_name, config} sometimes inside the saved model JSON; Keras 3 configs are at the top.
  const { topology, root } = (() => {
    try {
      return translateConfig(parsed.config);
    } catch (e) {
      if (e instanceof KerasConfigError) throw new KerasFileError(e.message);
      throw e;
    }
  })();
  let model: tf.LayersModel;
  try {
    model = await tf.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON);
  } catch (e) {
    throw new KerasFileError(`cannot build the model: ${errorText(e)}`);
  }
  try {
    parsed.setWeights(model, root);
  } catch (e) {
    model.dispose();
    if (e instanceof KerasWeightsError) throw new KerasFileError(e.message);
    throw new KerasFileError(`cannot read the weights: ${errorText(e)}`);
  }
  const cfg = parsed.config.config as Json;
  return { model, info: { ...parsed.info, configName: typeof cfg.name === 'string' ? cfg.name : undefined, rescalesInput: rescalesInput(root) } };
}

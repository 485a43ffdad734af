/**
 * Setting every weight of a built TF.js model from a Keras HDF5 weights store.
 *
 * - Keras 3 (`model.weights.h5`): variables are keyed by container path and class-name order, not by
 *   layer name: `layers/<snake_case class>[_<n>]/vars/<i>`, nested models under
 *   `layers/<model key>/layers/…`. The n-th layer of a class in a container's layer list gets `_n`.
 * - Keras 2 (`model_weights` in a full-model `.h5`): one group per top-level layer, whose
 *   `weight_names` attribute lists `<layer>/<weight>:0` datasets (a nested model's group lists all
 *   of its layers' weights).
 *
 * A missing variable or a count/shape mismatch is an error naming the layer, never a silently wrong model.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerNode } from './config.js';
import { KerasNormalization } from './layers.js';
import { child, isDataset, isGroup, readFloat32, stringListAttr, type H5Dataset, type H5Group } from './hdf5.js';

export class KerasWeightsError extends Error {}

/** Keras's `to_snake_case` of a class name: `Conv2D` → `conv2d`, `BatchNormalization` → `batch_normalization`. */
export function snakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

const isContainer = (l: tf.layers.Layer): l is tf.LayersModel => Array.isArray((l as tf.LayersModel).layers);

type Dims = readonly (number | null)[];
const shapeText = (s: Dims) => `[${s.join(', ')}]`;
const sameShape = (a: Dims, b: Dims) => a.length === b.length && a.every((d, i) => d === b[i]);
/** A variable's shape (always fully known once built). */
const dims = (v: tf.LayerVariable) => v.shape as number[];

interface Value { data: Float32Array; shape: number[]; name: string }

/** Writes `values` into `layer`'s variables (Keras order: trainable, then non-trainable), checking count and shapes. */
function assign(layer: tf.layers.Layer, cls: string, values: Value[], where: string): void {
  const vars = layer.weights;
  let vals = values;
  // Keras's Normalization also stores a sample count after mean and variance.
  if (layer instanceof KerasNormalization && vals.length === vars.length + 1) vals = vals.slice(0, vars.length);
  if (vals.length !== vars.length) {
    throw new KerasWeightsError(`layer '${layer.name}' (${cls}): the model has ${vars.length} weight${vars.length === 1 ? '' : 's'} but ${where} holds ${vals.length}`);
  }
  vars.forEach((v, i) => {
    const val = vals[i];
    if (!sameShape(val.shape, v.shape)) {
      // Normalization may store [C] or the broadcast shape [1, 1, 1, C].
      const n = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
      if (layer instanceof KerasNormalization && n(val.shape) === n(dims(v))) return;
      throw new KerasWeightsError(`layer '${layer.name}' (${cls}): weight ${i} (${v.originalName.split('/').pop()}) has shape ${shapeText(v.shape)} in the model but ${shapeText(val.shape)} in the file (${val.name})`);
    }
  });
  tf.tidy(() => vars.forEach((v, i) => v.write(tf.tensor(vals[i].data, dims(v), 'float32'))));
}

const read = (ds: H5Dataset, name: string): Value => ({ data: readFloat32(ds), shape: ds.shape.slice(), name });

/** Keras 3: walks the config tree and the store side by side. */
export function loadKeras3Weights(model: tf.LayersModel, root: LayerNode, store: H5Group): void {
  const done = new Map<string, Value[]>();
  const walk = (container: tf.LayersModel, node: LayerNode, group: H5Group | undefined, path: string) => {
    const used = new Map<string, number>();
    for (const sub of node.layers ?? []) {
      const base = snakeCase(sub.className);
      const n = used.get(base);
      used.set(base, n === undefined ? 0 : n + 1);
      const key = n === undefined ? base : `${base}_${n + 1}`;
      if (sub.className === 'InputLayer') continue;
      const layer = container.getLayer(sub.name);
      const entry = group && child(group, key);
      const where = `${path}${key}`;
      if (isContainer(layer)) {
        const inner = entry && isGroup(entry) ? child(entry, 'layers') : undefined;
        walk(layer, sub, inner && isGroup(inner) ? inner : undefined, `${where}/layers/`);
        continue;
      }
      if (layer.weights.length === 0) continue;
      const vars = entry && isGroup(entry) ? child(entry, 'vars') : undefined;
      let values: Value[] | undefined;
      if (vars && isGroup(vars)) {
        values = vars.keys
          .filter((k) => /^\d+$/.test(k))
          .sort((a, b) => Number(a) - Number(b))
          .map((k) => {
            const ds = child(vars, k);
            if (!isDataset(ds)) throw new KerasWeightsError(`layer '${sub.name}' (${sub.className}): ${where}/vars/${k} is not a dataset`);
            return read(ds, `${where}/vars/${k}`);
          });
      } else {
        // A layer shared with an enclosing model is stored once, where Keras met it first.
        values = done.get(sub.name);
      }
      if (!values) {
        throw new KerasWeightsError(`layer '${sub.name}' (${sub.className}): the weights file has no ${where}/vars (expected ${layer.weights.length} variables)`);
      }
      assign(layer, sub.className, values, `${where}/vars`);
      done.set(sub.name, values);
    }
  };
  const layers = child(store, 'layers');
  walk(model, root, layers && isGroup(layers) ? layers : undefined, 'layers/');
}

/** Leaf layers of `l` (itself, or the layers of a nested model, recursively). */
function leaves(l: tf.layers.Layer): tf.layers.Layer[] {
  return isContainer(l) ? l.layers.flatMap(leaves) : [l];
}

/** Keras 2: one group per top-level layer with a `weight_names` list. */
export function loadKeras2Weights(model: tf.LayersModel, root: LayerNode, weights: H5Group): void {
  const classOf = new Map<string, string>();
  const collect = (n: LayerNode) => { classOf.set(n.name, n.className); n.layers?.forEach(collect); };
  collect(root);
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const cls = classOf.get(layer.name) ?? layer.getClassName();
    const g = child(weights, layer.name);
    if (!g || !isGroup(g)) throw new KerasWeightsError(`layer '${layer.name}' (${cls}): the weights file has no model_weights/${layer.name} (expected ${layer.weights.length} weights)`);
    const names = stringListAttr(g, 'weight_names') ?? [];
    const values = names.map((wn) => {
      const ds = child(g, wn);
      if (!isDataset(ds)) throw new KerasWeightsError(`layer '${layer.name}' (${cls}): weight '${wn}' is listed but missing from model_weights/${layer.name}`);
      return read(ds, `model_weights/${layer.name}/${wn}`);
    });
    if (!isContainer(layer)) {
      assign(layer, cls, values, `model_weights/${layer.name}`);
      continue;
    }
    // A nested model: each inner layer takes the weights named `<its name>/…`, in file order.
    const byLayer = new Map<string, Value[]>();
    values.forEach((v, i) => {
      const parts = names[i].split('/');
      const owner = parts.length > 1 ? parts[parts.length - 2] : '';
      byLayer.set(owner, [...(byLayer.get(owner) ?? []), v]);
    });
    const inner = leaves(layer).filter((l) => l.weights.length > 0);
    if (inner.every((l) => byLayer.has(l.name))) {
      for (const l of inner) assign(l, classOf.get(l.name) ?? l.getClassName(), byLayer.get(l.name)!, `model_weights/${layer.name}/${l.name}`);
    } else {
      // Variable names that do not match layer names: Keras's own order (trainable, then non-trainable).
      const vars = layer.trainableWeights.concat(layer.nonTrainableWeights);
      if (vars.length !== values.length) {
        const missing = inner.find((l) => !byLayer.has(l.name))!;
        throw new KerasWeightsError(`layer '${missing.name}' (${classOf.get(missing.name) ?? missing.getClassName()}): no weights for it in model_weights/${layer.name}`);
      }
      vars.forEach((v, i) => {
        if (!sameShape(v.shape, values[i].shape)) {
          throw new KerasWeightsError(`layer '${layer.name}' (${cls}): weight ${v.originalName} has shape ${shapeText(v.shape)} in the model but ${shapeText(values[i].shape)} in the file (${values[i].name})`);
        }
      });
      tf.tidy(() => vars.forEach((v, i) => v.write(tf.tensor(values[i].data, dims(v), 'float32'))));
    }
  }
}

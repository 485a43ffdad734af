/**
 * Keras files written here, in Keras's own layouts (a Keras 3 `.keras` zip with `config.json` in the
 * Keras 3 serialization format and a `model.weights.h5` keyed by container path and class-name
 * order; a Keras 2 `.h5` with `model_config` and `model_weights/<layer>` + `weight_names`), written
 * with h5wasm. They cover what the shared models do not: a nested Functional model with layer names
 * unlike its storage keys, a layer shared by two calls, a merge layer, BatchNormalization, and a
 * Keras 2 nested model. The loaded model is checked against the same network written as plain
 * TF.js ops (forward and Grad-CAM), so a weight in the wrong place fails.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import { strToU8, zipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { explain } from '../src/explain.js';
import { initBackend } from '../src/node/backend.js';
import { loadModel } from '../src/node/load.js';
import { snakeCase, translateConfig } from '../src/model/keras/index.js';
import { maxPoolGradFirst } from '../src/model/keras/maxpool.js';
import type { ExplainableModel } from '../src/model/types.js';
import { pearson, runCli } from './helpers.js';
import { encodePng } from '../src/node/image.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gradcam-keras-build-'));

// ---------- weights (seeded) ----------
let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const arr = (shape: number[], scale = 0.5, offset = 0) => {
  const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
  for (let i = 0; i < a.length; i++) a[i] = rand() * scale + offset;
  return { data: a, shape };
};
const W = {
  stemK: arr([3, 3, 3, 4]), stemB: arr([4], 0.1),
  gamma: arr([4], 0.2, 1), beta: arr([4], 0.1), mean: arr([4], 0.1), variance: arr([4], 0.1, 0.5),
  blockK: arr([3, 3, 4, 6]), blockB: arr([6], 0.1),
  sharedK: arr([1, 1, 6, 6]), sharedB: arr([6], 0.1),
  denseK: arr([6, 3]), denseB: arr([3], 0.1),
};
const t = (w: { data: Float32Array; shape: number[] }) => tf.tensor(w.data, w.shape);

/** The network as plain ops, split at the inner max-pool output `a` (7×7×6). */
const body = (x: tf.Tensor4D) => tf.tidy(() => {
  let a = tf.mul(x, 1 / 255) as tf.Tensor4D;
  a = tf.relu(tf.add(tf.conv2d(a, t(W.stemK) as tf.Tensor4D, 1, 'same'), t(W.stemB)));
  a = tf.add(tf.mul(tf.div(tf.sub(a, t(W.mean)), tf.sqrt(tf.add(t(W.variance), 1e-3))), t(W.gamma)), t(W.beta));
  a = tf.relu(tf.add(tf.conv2d(a, t(W.blockK) as tf.Tensor4D, 1, 'valid'), t(W.blockB)));
  return tf.maxPool(a, 2, 2, 'valid');
});
const head = (a: tf.Tensor4D) => {
  const shared = (v: tf.Tensor4D) => tf.add(tf.conv2d(v, t(W.sharedK) as tf.Tensor4D, 1, 'valid'), t(W.sharedB)) as tf.Tensor4D;
  const s1 = shared(a);
  const y = tf.add(s1, shared(s1));
  return tf.add(tf.matMul(tf.mean(y, [1, 2]) as tf.Tensor2D, t(W.denseK) as tf.Tensor2D), t(W.denseB)) as tf.Tensor2D;
};
/** Grad-CAM at the pool output by hand: ReLU(Σ_k mean(∂logit/∂A_k)·A_k), min-max normalised. */
const referenceCam = (x: tf.Tensor4D, cls: number) => tf.tidy(() => {
  const a = body(x);
  const g = tf.grad((v: tf.Tensor) => head(v as tf.Tensor4D).slice([0, cls], [1, 1]).sum())(a);
  const cam = tf.relu(tf.sum(tf.mul(a, tf.mean(g, [1, 2], true)), -1));
  const c = cam.sub(cam.min());
  return c.div(c.max().add(1e-7)).dataSync() as Float32Array;
});

// ---------- Keras 3 config (the serialization format of keras 3.x saving_lib) ----------
const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
const init = (c: string) => ({ module: 'keras.initializers', class_name: c, config: {}, registered_name: null });
const kt = (layer: string, node = 0, shape: (number | null)[] = [null]) =>
  ({ class_name: '__keras_tensor__', config: { shape, dtype: 'float32', keras_history: [layer, node, 0] } });
const node = (...args: unknown[]) => ({ args, kwargs: {} });
const layer = (cls: string, name: string, config: Record<string, unknown>, inbound?: unknown[]) => ({
  module: 'keras.layers', class_name: cls,
  config: { name, trainable: true, dtype: policy, ...config },
  registered_name: null, build_config: { input_shape: [null, 16, 16, 3] },
  name, ...(inbound ? { inbound_nodes: inbound } : {}),
});
const conv = (name: string, filters: number, k: number, padding: string, activation: string, inbound: unknown[]) => layer('Conv2D', name, {
  filters, kernel_size: [k, k], strides: [1, 1], padding, data_format: 'channels_last', dilation_rate: [1, 1], groups: 1,
  activation, use_bias: true, kernel_initializer: init('GlorotUniform'), bias_initializer: init('Zeros'),
  kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
}, inbound);
const input = (name: string) => ({ module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 16, 16, 3], dtype: 'float32', sparse: false, ragged: false, name, optional: false }, registered_name: null, name, inbound_nodes: [] });

const keras3Config = {
  module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional',
  config: {
    name: 'outer', trainable: true,
    layers: [
      input('image'),
      layer('Rescaling', 'scale', { scale: 1 / 255, offset: 0 }, [node(kt('image'))]),
      {
        // data_augmentation = keras.Sequential([...]) as in the Keras tutorials: no InputLayer, a build shape.
        module: 'keras', class_name: 'Sequential', registered_name: null, name: 'augment',
        config: {
          name: 'augment', trainable: true, dtype: policy,
          layers: [
            layer('RandomFlip', 'flip', { mode: 'horizontal', seed: null, data_format: 'channels_last' }),
            layer('RandomZoom', 'zoom', { height_factor: 0.1, width_factor: null, fill_mode: 'reflect', interpolation: 'bilinear', seed: null, fill_value: 0, data_format: 'channels_last' }),
          ],
          build_input_shape: [null, 16, 16, 3],
        },
        build_config: { input_shape: [null, 16, 16, 3] },
        inbound_nodes: [node(kt('scale'))],
      },
      {
        module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional', name: 'base',
        config: {
          name: 'base', trainable: true,
          layers: [
            input('base_in'),
            conv('stem', 4, 3, 'same', 'relu', [node(kt('base_in'))]),
            layer('BatchNormalization', 'bn', { axis: -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true, beta_initializer: init('Zeros'), gamma_initializer: init('Ones'), moving_mean_initializer: init('Zeros'), moving_variance_initializer: init('Ones'), beta_regularizer: null, gamma_regularizer: null, beta_constraint: null, gamma_constraint: null, synchronized: false }, [node(kt('stem'))]),
            conv('block', 6, 3, 'valid', 'relu', [node(kt('bn'))]),
            layer('MaxPooling2D', 'pool', { pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' }, [node(kt('block'))]),
          ],
          input_layers: [['base_in', 0, 0]],
          output_layers: [['pool', 0, 0]],
        },
        build_config: { input_shape: [null, 16, 16, 3] },
        inbound_nodes: [node(kt('augment'))],
      },
      // One Conv2D called twice (a shared layer), then merged.
      // A nested Functional's output is node 1: Keras 3 counts the model's own built-in node, as Keras 2 did.
      conv('shared_conv', 6, 1, 'valid', 'linear', [node(kt('base', 1)), node(kt('shared_conv', 0))]),
      layer('Add', 'sum', {}, [node([kt('shared_conv', 0), kt('shared_conv', 1)])]),
      layer('GlobalAveragePooling2D', 'gap', { data_format: 'channels_last', keepdims: false }, [node(kt('sum'))]),
      layer('Dense', 'scores', { units: 3, activation: 'softmax', use_bias: true, kernel_initializer: init('GlorotUniform'), bias_initializer: init('Zeros'), kernel_regularizer: null, bias_regularizer: null, kernel_constraint: null, bias_constraint: null }, [node(kt('gap'))]),
    ],
    input_layers: ['image', 0, 0], // a single input is saved flat
    output_layers: ['scores', 0, 0],
  },
  build_config: { input_shape: [null, 16, 16, 3] },
};

// ---------- writing HDF5 with h5wasm ----------
type H5 = InstanceType<typeof h5wasm.File> | InstanceType<typeof h5wasm.Group>;
const group = (root: H5, p: string): H5 =>
  p.split('/').reduce<H5>((g, k) => (g.keys().includes(k) ? (g.get(k) as H5) : g.create_group(k)), root);
const dataset = (root: H5, p: string, w: { data: Float32Array; shape: number[] }) => {
  const parts = p.split('/');
  group(root, parts.slice(0, -1).join('/')).create_dataset({ name: parts.at(-1)!, data: w.data, shape: w.shape, dtype: '<f4' });
};

function writeKeras3(file: string) {
  const h5path = path.join(dir, 'model.weights.h5');
  const f = new h5wasm.File(h5path, 'w');
  const vars = (p: string, ws: { data: Float32Array; shape: number[] }[]) => {
    const g = group(f, `${p}/vars`);
    ws.forEach((w, i) => g.create_dataset({ name: String(i), data: w.data, shape: w.shape, dtype: '<f4' }));
  };
  // Keys: snake_case class name + per-container counter; layer names play no part.
  for (const p of ['layers/input_layer', 'layers/rescaling', 'layers/sequential/layers/random_flip', 'layers/sequential/layers/random_zoom', 'layers/functional', 'layers/add', 'layers/global_average_pooling2d', 'vars']) group(f, p);
  vars('layers/functional/layers/conv2d', [W.stemK, W.stemB]);
  vars('layers/functional/layers/batch_normalization', [W.gamma, W.beta, W.mean, W.variance]);
  vars('layers/functional/layers/conv2d_1', [W.blockK, W.blockB]);
  group(f, 'layers/functional/layers/max_pooling2d/vars');
  vars('layers/conv2d', [W.sharedK, W.sharedB]);
  vars('layers/dense', [W.denseK, W.denseB]);
  vars('optimizer', [arr([2]), arr([3])]);
  f.close();
  writeFileSync(file, zipSync({
    'metadata.json': strToU8(JSON.stringify({ keras_version: '3.10.0', date_saved: '2026-12-01@08:00:00' })),
    'config.json': strToU8(JSON.stringify(keras3Config)),
    'model.weights.h5': new Uint8Array(readFileSync(h5path)),
  }));
}

/** Keras 2: Sequential(nested Functional `base`, GlobalAveragePooling2D, Dense); no shared layer. */
function writeKeras2(file: string, varPrefix = '') {
  const k2 = (cls: string, name: string, config: Record<string, unknown>, inbound?: string) => ({
    class_name: cls, config: { name, trainable: true, dtype: 'float32', ...config }, name,
    inbound_nodes: inbound ? [[[inbound, 0, 0, {}]]] : [],
  });
  const convCfg = (filters: number, k: number, padding: string) => ({ filters, kernel_size: [k, k], strides: [1, 1], padding, data_format: 'channels_last', dilation_rate: [1, 1], activation: 'relu', use_bias: true, kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } }, bias_initializer: { class_name: 'Zeros', config: {} } });
  const config = {
    class_name: 'Sequential',
    config: {
      name: 'sequential',
      layers: [
        { class_name: 'InputLayer', config: { batch_input_shape: [null, 16, 16, 3], dtype: 'float32', sparse: false, ragged: false, name: 'input_2' } },
        {
          class_name: 'Functional', name: 'base',
          config: {
            name: 'base',
            layers: [
              k2('InputLayer', 'input_1', { batch_input_shape: [null, 16, 16, 3], sparse: false, ragged: false }),
              k2('Rescaling', 'scale', { scale: 1 / 255, offset: 0 }, 'input_1'),
              k2('Conv2D', 'stem', convCfg(4, 3, 'same'), 'scale'),
              k2('BatchNormalization', 'bn', { axis: [3], momentum: 0.99, epsilon: 0.001, center: true, scale: true }, 'stem'),
              k2('Conv2D', 'block', convCfg(6, 3, 'valid'), 'bn'),
              k2('MaxPooling2D', 'pool', { pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' }, 'block'),
            ],
            input_layers: [['input_1', 0, 0]],
            output_layers: [['pool', 0, 0]],
          },
        },
        { class_name: 'GlobalAveragePooling2D', config: { name: 'gap', trainable: true, dtype: 'float32', data_format: 'channels_last' } },
        { class_name: 'Dense', config: { name: 'dense', trainable: true, dtype: 'float32', units: 3, activation: 'softmax', use_bias: true } },
      ],
    },
  };
  const f = new h5wasm.File(file, 'w');
  f.create_attribute('keras_version', '2.13.1');
  f.create_attribute('backend', 'tensorflow');
  f.create_attribute('model_config', JSON.stringify(config));
  const mw = group(f, 'model_weights');
  mw.create_attribute('layer_names', ['base', 'gap', 'dense']);
  // A nested model's group lists every inner weight: trainable ones first, then the non-trainable (Keras 2 order).
  const base: [string, { data: Float32Array; shape: number[] }][] = ([
    ['stem/kernel:0', W.stemK], ['stem/bias:0', W.stemB], ['bn/gamma:0', W.gamma], ['bn/beta:0', W.beta],
    ['block/kernel:0', W.blockK], ['block/bias:0', W.blockB], ['bn/moving_mean:0', W.mean], ['bn/moving_variance:0', W.variance],
  ] as [string, { data: Float32Array; shape: number[] }][]).map(([n, w]) => [varPrefix + n, w]);
  group(mw, 'base').create_attribute('weight_names', base.map(([n]) => n));
  for (const [n, w] of base) dataset(mw, `base/${n}`, w);
  group(mw, 'gap').create_attribute('weight_names', ['']);
  group(mw, 'dense').create_attribute('weight_names', ['dense/kernel:0', 'dense/bias:0']);
  dataset(mw, 'dense/dense/kernel:0', W.denseK);
  dataset(mw, 'dense/dense/bias:0', W.denseB);
  f.close();
}

// ---------- a MobileNet-style binary classifier (Keras 3): adapted Normalization, padding, depthwise, ReLU6, sigmoid ----------
const B = {
  mean: arr([3], 20, 120), variance: arr([3], 300, 3000),
  dwK: arr([3, 3, 3, 1]), dwB: arr([3], 0.1), denseK: arr([3, 1]), denseB: arr([1], 0.1),
};
const binaryConfig = {
  module: 'keras', class_name: 'Sequential', registered_name: null,
  config: {
    name: 'binary', trainable: true, dtype: policy,
    layers: [
      input('pixels'),
      layer('Normalization', 'norm', { axis: -1, invert: false, mean: null, variance: null }),
      layer('ZeroPadding2D', 'pad', { padding: [[1, 1], [1, 1]], data_format: 'channels_last' }),
      layer('DepthwiseConv2D', 'dw', { kernel_size: [3, 3], strides: [2, 2], padding: 'valid', depth_multiplier: 1, data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: true, depthwise_initializer: init('GlorotUniform'), bias_initializer: init('Zeros'), depthwise_regularizer: null, bias_regularizer: null, activity_regularizer: null, depthwise_constraint: null, bias_constraint: null }),
      layer('ReLU', 're_lu', { max_value: 6, negative_slope: 0, threshold: 0 }),
      layer('GlobalAveragePooling2D', 'gap', { data_format: 'channels_last', keepdims: false }),
      layer('Dropout', 'drop', { rate: 0.3, seed: null, noise_shape: null }),
      layer('Dense', 'out', { units: 1, activation: 'sigmoid', use_bias: true, kernel_initializer: init('GlorotUniform'), bias_initializer: init('Zeros'), kernel_regularizer: null, bias_regularizer: null, kernel_constraint: null, bias_constraint: null }),
    ],
    build_input_shape: [null, 16, 16, 3],
  },
  build_config: { input_shape: [null, 16, 16, 3] },
};
function writeBinary(file: string) {
  const h5path = path.join(dir, 'binary.weights.h5');
  const f = new h5wasm.File(h5path, 'w');
  const vars = (p: string, ws: { data: Float32Array | BigInt64Array; shape?: number[] }[]) => {
    const g = group(f, `${p}/vars`);
    ws.forEach((w, i) => g.create_dataset({ name: String(i), data: w.data, ...(w.shape ? { shape: w.shape, dtype: '<f4' } : {}) }));
  };
  vars('layers/normalization', [B.mean, B.variance, { data: BigInt64Array.of(1000n) }]); // mean, variance, count (int64)
  vars('layers/depthwise_conv2d', [B.dwK, B.dwB]);
  vars('layers/dense', [B.denseK, B.denseB]);
  for (const p of ['layers/zero_padding2d', 'layers/re_lu', 'layers/global_average_pooling2d', 'layers/dropout', 'vars']) group(f, p);
  f.close();
  writeFileSync(file, zipSync({ 'config.json': strToU8(JSON.stringify(binaryConfig)), 'model.weights.h5': new Uint8Array(readFileSync(h5path)) }));
}
/** The binary model's logit (before its sigmoid) as plain ops. */
const binaryLogit = (x: tf.Tensor4D) => tf.tidy(() => {
  let a = tf.div(tf.sub(x, t(B.mean)), tf.maximum(tf.sqrt(t(B.variance)), 1e-7)) as tf.Tensor4D;
  a = tf.pad(a, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  a = tf.clipByValue(tf.add(tf.depthwiseConv2d(a, t(B.dwK) as tf.Tensor4D, 2, 'valid'), t(B.dwB)), 0, 6) as tf.Tensor4D;
  return tf.add(tf.matMul(tf.mean(a, [1, 2]) as tf.Tensor2D, t(B.denseK) as tf.Tensor2D), t(B.denseB));
});

describe('Keras files written in Keras layouts', () => {
  const image = () => { const x = arr([1, 16, 16, 3], 127.5, 127.5); return tf.tensor4d(x.data, [1, 16, 16, 3]); };
  let keras3: ExplainableModel;
  let keras2: ExplainableModel;
  beforeAll(async () => {
    await h5wasm.ready;
    await initBackend('wasm');
    writeKeras3(path.join(dir, 'nested_shared.keras'));
    writeKeras2(path.join(dir, 'nested.h5'));
    keras3 = await loadModel(path.join(dir, 'nested_shared.keras'));
    keras2 = await loadModel(path.join(dir, 'nested.h5'), { preprocessing: { range: [0, 255] } });
    writeBinary(path.join(dir, 'binary.keras'));
  });

  it('Keras 3 Sequential: adapted Normalization (mean, variance, count), depthwise, ReLU6, one sigmoid unit', async () => {
    const { buildKerasModel } = await import('../src/model/keras/index.js');
    const { model, info } = await buildKerasModel(new Uint8Array(readFileSync(path.join(dir, 'binary.keras'))));
    expect(info.rescalesInput).toBe(true); // starts with Normalization: raw pixels
    const x = image();
    const got = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    const want = tf.tidy(() => tf.sigmoid(binaryLogit(x)).dataSync());
    expect(got[0]).toBeCloseTo(want[0], 5);
    model.dispose();

    // As an ExplainableModel: the sigmoid is stripped, labels negative/positive, positive = the logit z, negative = −z.
    const binary = await loadModel(path.join(dir, 'binary.keras'));
    expect(binary.format).toBe('keras');
    expect(binary.name).toBe('binary.keras');
    expect(binary.activation).toBe('sigmoid');
    expect(binary.labels).toEqual(['negative', 'positive']);
    const z = tf.tidy(() => binaryLogit(x).dataSync()[0]);
    const [out] = await binary.run(x);
    expect(out.dataSync()[0]).toBeCloseTo(z, 4);
    tf.dispose(out);
    const pixels = tf.tidy(() => x.squeeze([0]) as tf.Tensor3D);
    const [result] = await explain(binary, [pixels], { targets: ['binary:positive', 'binary:negative'], layer: 'dw' });
    expect(result.targets.map((r) => r.score)).toEqual([expect.closeTo(z, 4), expect.closeTo(-z, 4)]);
    tf.dispose([x, pixels]);
    binary.dispose();
  });

  it('Keras 3: nested Functional, shared layer, merge — logits and Grad-CAM equal plain TF.js ops', async () => {
    expect(keras3.preprocessing).toMatchObject({ size: [16, 16], range: [0, 255] }); // leading Rescaling
    expect(keras3.layers.map((l) => l.name)).toEqual(expect.arrayContaining(['base/stem', 'base/bn', 'base/block', 'base/pool', 'shared_conv', 'sum']));
    const x = image();
    const want = tf.tidy(() => head(body(x)).dataSync());
    const pixels = tf.tidy(() => x.squeeze([0]) as tf.Tensor3D);
    const before = tf.memory().numTensors;
    const [result] = await explain(keras3, [pixels], { layer: 'base/pool', targets: [0, 1, 2] });
    expect(tf.memory().numTensors).toBe(before);
    for (const target of result.targets) {
      expect(target.logit).toBeCloseTo(want[target.classIndex], 4);
      const cam = referenceCam(x, target.classIndex);
      if (cam.every((v) => v === 0)) expect(target.noEvidence).toBe(true);
      else expect(pearson(target.cam.data, cam)).toBeGreaterThan(0.999);
    }
    tf.dispose([x, pixels]);
  });

  it('Keras 3: a Functional base inside a Sequential (transfer learning), weights under layers/functional', async () => {
    const base = (keras3Config.config.layers as Record<string, unknown>[]).find((l) => l.name === 'base')!;
    const { inbound_nodes: _, ...baseEntry } = base;
    const config = {
      module: 'keras', class_name: 'Sequential', registered_name: null,
      config: {
        name: 'sequential', trainable: true, dtype: policy,
        layers: [input('image'), layer('Rescaling', 'scale', { scale: 1 / 255, offset: 0 }), baseEntry,
          layer('GlobalAveragePooling2D', 'gap', { data_format: 'channels_last', keepdims: false }),
          layer('Dense', 'scores', { units: 3, activation: 'softmax', use_bias: true })],
        build_input_shape: [null, 16, 16, 3],
      },
    };
    const h5path = path.join(dir, 'seq.weights.h5');
    const f = new h5wasm.File(h5path, 'w');
    dataset(f, 'layers/functional/layers/conv2d/vars/0', W.stemK);
    dataset(f, 'layers/functional/layers/conv2d/vars/1', W.stemB);
    [W.gamma, W.beta, W.mean, W.variance].forEach((w, i) => dataset(f, `layers/functional/layers/batch_normalization/vars/${i}`, w));
    dataset(f, 'layers/functional/layers/conv2d_1/vars/0', W.blockK);
    dataset(f, 'layers/functional/layers/conv2d_1/vars/1', W.blockB);
    dataset(f, 'layers/dense/vars/0', W.denseK);
    dataset(f, 'layers/dense/vars/1', W.denseB);
    f.close();
    const file = path.join(dir, 'transfer.keras');
    writeFileSync(file, zipSync({ 'config.json': strToU8(JSON.stringify(config)), 'model.weights.h5': new Uint8Array(readFileSync(h5path)) }));
    const model = await loadModel(file);
    const x = image();
    const want = tf.tidy(() => head2(body(x)).dataSync());
    const [out] = await model.run(x);
    const got = out.dataSync();
    want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4));
    expect(model.layers.map((l) => l.name)).toContain('base/block');
    tf.dispose([x, out]);
    model.dispose();
  });

  it('Keras 2: nested model weights by weight_names (trainable first), logits equal plain TF.js ops', async () => {
    // Variable names that do not match the layer names (a model built twice in one session): Keras's order instead.
    writeKeras2(path.join(dir, 'renamed.h5'), 'x_');
    const renamed = await loadModel(path.join(dir, 'renamed.h5'), { preprocessing: { range: [0, 255] } });
    const x = image();
    const want = tf.tidy(() => head2(body(x)).dataSync());
    const pixels = tf.tidy(() => x.squeeze([0]) as tf.Tensor3D);
    for (const model of [keras2, renamed]) {
      const [result] = await explain(model, [pixels], { layer: 'base/block', targets: [0, 1, 2] });
      for (const target of result.targets) expect(target.logit).toBeCloseTo(want[target.classIndex], 4);
    }
    renamed.dispose();
    tf.dispose([x, pixels]);
  });
});

/** Keras 2 test model's head: global average pooling and dense. */
const head2 = (a: tf.Tensor4D) => tf.add(tf.matMul(tf.mean(a, [1, 2]) as tf.Tensor2D, t(W.denseK) as tf.Tensor2D), t(W.denseB));

describe('preprocess_input arithmetic inside functional models', () => {
  // x / 127.5 − 1 (MobileNet's preprocess_input), then global average pooling and a dense layer.
  const K = arr([3, 2]);
  const Bias = arr([2], 0.1);
  const want = (x: tf.Tensor4D) => tf.tidy(() => tf.softmax(tf.add(tf.matMul(tf.mean(tf.sub(tf.div(x, 127.5), 1), [1, 2]) as tf.Tensor2D, t(K) as tf.Tensor2D), t(Bias))).dataSync());
  const dense = { units: 2, activation: 'softmax', use_bias: true };
  const keras2 = {
    class_name: 'Functional',
    config: {
      name: 'model',
      layers: [
        { class_name: 'InputLayer', name: 'input_1', config: { batch_input_shape: [null, 8, 8, 3], dtype: 'float32', name: 'input_1' }, inbound_nodes: [] },
        { class_name: 'TFOpLambda', name: 'tf.math.truediv', config: { name: 'tf.math.truediv', trainable: false, dtype: 'float32', function: 'math.truediv' }, inbound_nodes: [[['input_1', 0, 0, { y: 127.5, name: null }]]] },
        { class_name: 'TFOpLambda', name: 'tf.math.subtract', config: { name: 'tf.math.subtract', trainable: false, dtype: 'float32', function: 'math.subtract' }, inbound_nodes: [[['tf.math.truediv', 0, 0, { y: 1.0, name: null }]]] },
        { class_name: 'GlobalAveragePooling2D', name: 'gap', config: { name: 'gap', data_format: 'channels_last' }, inbound_nodes: [[['tf.math.subtract', 0, 0, {}]]] },
        { class_name: 'Dense', name: 'dense', config: { name: 'dense', ...dense }, inbound_nodes: [[['gap', 0, 0, {}]]] },
      ],
      input_layers: [['input_1', 0, 0]],
      output_layers: [['dense', 0, 0]],
    },
  };
  const op = (cls: string, name: string, args: unknown[]) => ({ module: 'keras.src.ops.numpy', class_name: cls, config: { name }, registered_name: cls, name, inbound_nodes: [{ args, kwargs: {} }] });
  const keras3 = {
    module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional',
    config: {
      name: 'functional', trainable: true,
      layers: [
        { ...input('keras_tensor'), config: { batch_shape: [null, 8, 8, 3], dtype: 'float32', sparse: false, name: 'keras_tensor' } },
        op('TrueDivide', 'true_divide', [kt('keras_tensor'), 127.5]),
        op('Subtract', 'subtract', [kt('true_divide'), 1.0]),
        layer('GlobalAveragePooling2D', 'gap', { data_format: 'channels_last', keepdims: false }, [node(kt('subtract'))]),
        layer('Dense', 'dense', dense, [node(kt('gap'))]),
      ],
      input_layers: [['keras_tensor', 0, 0]],
      output_layers: [['dense', 0, 0]],
    },
  };

  it('Keras 2 TFOpLambda and Keras 3 keras.ops with a constant run as layers; the model wants raw pixels', async () => {
    await h5wasm.ready;
    await initBackend('wasm');
    const { buildKerasModel } = await import('../src/model/keras/index.js');
    const h2 = path.join(dir, 'ops2.h5');
    const f2 = new h5wasm.File(h2, 'w');
    f2.create_attribute('model_config', JSON.stringify(keras2));
    const mw = group(f2, 'model_weights');
    group(mw, 'dense').create_attribute('weight_names', ['dense/kernel:0', 'dense/bias:0']);
    dataset(mw, 'dense/dense/kernel:0', K);
    dataset(mw, 'dense/dense/bias:0', Bias);
    f2.close();
    const h3 = path.join(dir, 'ops3.weights.h5');
    const f3 = new h5wasm.File(h3, 'w');
    dataset(f3, 'layers/dense/vars/0', K);
    dataset(f3, 'layers/dense/vars/1', Bias);
    f3.close();
    const k3 = zipSync({ 'config.json': strToU8(JSON.stringify(keras3)), 'model.weights.h5': new Uint8Array(readFileSync(h3)) });
    const x = tf.tidy(() => tf.tensor4d(arr([1, 8, 8, 3], 127.5, 127.5).data, [1, 8, 8, 3]));
    for (const bytes of [new Uint8Array(readFileSync(h2)), k3]) {
      const { model, info } = await buildKerasModel(bytes);
      expect(info.rescalesInput).toBe(true);
      expect(model.layers.map((l) => l.getClassName())).toEqual(expect.arrayContaining([bytes === k3 ? 'TrueDivide' : 'TFOpLambda']));
      const got = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
      const exp = want(x);
      expect(Array.from(got).map((v, i) => Math.abs(v - exp[i])).every((d) => d < 1e-5)).toBe(true);
      model.dispose();
    }
    tf.dispose(x);
  });
});

describe('CLI with a one-sigmoid-unit Keras model', () => {
  it('explains the positive and the negative class by default', async () => {
    const model = path.join(dir, 'binary.keras');
    if (!existsSync(model)) writeBinary(model);
    const png = path.join(dir, 'in.png');
    writeFileSync(png, await encodePng(new Uint8Array(16 * 16 * 3).map((_, i) => (i * 37) % 256), 16, 16));
    const out = path.join(dir, 'cli');
    const run = await runCli(['explain', png, '--model', model, '--out', out]);
    expect(run.code).toBe(0);
    expect(readdirSync(out).filter((f) => f.endsWith('.heatmap.png')).sort()).toEqual(['in.binary-negative.heatmap.png', 'in.binary-positive.heatmap.png']);
  }, 60_000);
});

describe('Keras config translation', () => {
  it('snake_case keys as Keras makes them', () => {
    expect(['Conv2D', 'MaxPooling2D', 'BatchNormalization', 'ReLU', 'DepthwiseConv2D', 'GlobalAveragePooling2D', 'Functional'].map(snakeCase))
      .toEqual(['conv2d', 'max_pooling2d', 'batch_normalization', 're_lu', 'depthwise_conv2d', 'global_average_pooling2d', 'functional']);
  });

  it('Keras 3 nodes, dtype policies and shapes become the Keras 2 form tfjs-layers reads', () => {
    const { topology } = translateConfig(keras3Config);
    const layers = (topology.config as { layers: Record<string, unknown>[] }).layers;
    const shared = layers.find((l) => l.name === 'shared_conv')!;
    expect(shared.inbound_nodes).toEqual([[['base', 1, 0, {}]], [['shared_conv', 0, 0, {}]]]);
    expect(layers.find((l) => l.name === 'base')!.inbound_nodes).toEqual([[['augment', 1, 0, {}]]]); // Keras 3 Sequential: +1 for tfjs
    expect(layers.find((l) => l.name === 'sum')!.inbound_nodes).toEqual([[['shared_conv', 0, 0, {}], ['shared_conv', 1, 0, {}]]]);
    expect((layers[0].config as Record<string, unknown>).batch_input_shape).toEqual([null, 16, 16, 3]);
    expect((shared.config as Record<string, unknown>).dtype).toBe('float32');
    expect((shared.config as Record<string, unknown>).kernel_initializer).toEqual({ class_name: 'GlorotUniform', config: {} });
    expect((topology.config as Record<string, unknown>).input_layers).toEqual([['image', 0, 0]]);
  });

  it('rejects Lambda, TF-Hub and custom layers naming layer and class', () => {
    const withLayer = (entry: Record<string, unknown>) => ({
      class_name: 'Sequential', config: { name: 's', layers: [input('in'), { ...entry, config: { name: 'odd', ...(entry.config as object) } }] },
    });
    expect(() => translateConfig(withLayer({ class_name: 'Lambda', module: 'keras.layers', config: { function: 'x' } }))).toThrow(/^layer 'odd' \(Lambda\): Python code/);
    expect(() => translateConfig(withLayer({ class_name: 'KerasLayer', module: 'tensorflow_hub.keras_layer', config: {} }))).toThrow(/^layer 'odd' \(KerasLayer\): TF-Hub/);
    expect(() => translateConfig(withLayer({ class_name: 'MyBlock', module: 'my_project.layers', registered_name: 'Custom>MyBlock', config: {} }))).toThrow(/^layer 'odd' \(MyBlock\): custom layer 'Custom>MyBlock'/);
  });
});

describe('Keras preprocessing layers', () => {
  it('CenterCrop, Resizing (half-pixel, crop to aspect), Rescaling per channel, Normalization with scalars', async () => {
    await initBackend('wasm');
    const { KerasCenterCrop, KerasResizing, KerasRescaling, KerasNormalization } = await import('../src/model/keras/layers.js');
    const x = tf.tidy(() => tf.range(0, 2 * 5 * 6 * 3).reshape([2, 5, 6, 3]).toFloat() as tf.Tensor4D);
    const crop = new KerasCenterCrop({ height: 3, width: 4 }).apply(x) as tf.Tensor;
    expect(crop.shape).toEqual([2, 3, 4, 3]);
    expect(crop.arraySync()).toEqual(tf.tidy(() => x.slice([0, 1, 1, 0], [2, 3, 4, 3]).arraySync()));
    const up = new KerasCenterCrop({ height: 8, width: 8 }).apply(x) as tf.Tensor; // larger: crop to 1:1, then resize
    expect(up.shape).toEqual([2, 8, 8, 3]);
    const same = new KerasResizing({ height: 5, width: 6 }).apply(x) as tf.Tensor;
    expect(same.arraySync()).toEqual(x.arraySync());
    // Downscaling 2×: half-pixel centres average each 2×2 block exactly (align-corners would not).
    const big = tf.tidy(() => tf.randomUniform([1, 4, 4, 1], 0, 255, 'float32', 3) as tf.Tensor4D);
    const half = new KerasResizing({ height: 2, width: 2 }).apply(big) as tf.Tensor;
    const pooled = tf.avgPool(big, 2, 2, 'valid');
    expect(Array.from(half.dataSync()).map((v, i) => Math.abs(v - pooled.dataSync()[i]) < 1e-4)).toEqual([true, true, true, true]);
    const aspect = new KerasResizing({ height: 4, width: 4, cropToAspectRatio: true }).apply(x) as tf.Tensor;
    expect(aspect.shape).toEqual([2, 4, 4, 3]);
    const scaled = new KerasRescaling({ scale: [1, 2, 3], offset: -1 }).apply(tf.ones([1, 1, 1, 3])) as tf.Tensor;
    expect(Array.from(scaled.dataSync())).toEqual([0, 1, 2]);
    const norm = new KerasNormalization({ mean: 2, variance: 4 }).apply(tf.fill([1, 1, 1, 3], 6)) as tf.Tensor;
    expect(Array.from(norm.dataSync())).toEqual([2, 2, 2]);
    tf.dispose([x, crop, up, same, big, half, pooled, aspect, scaled, norm]);
  });
});

describe('max-pool gradient', () => {
  it('goes to one position per window (the first maximum), as TensorFlow and the cpu backend do', async () => {
    await initBackend('cpu');
    try {
      // Ties on purpose (values in {0, 1, 2}), overlapping windows and same padding.
      for (const [pool, stride, pad] of [[2, 2, 'valid'], [3, 2, 'same'], [3, 1, 'valid'], [2, 2, 'same']] as const) {
        const x = tf.tidy(() => tf.randomUniform([2, 7, 9, 3], 0, 3, 'int32', 5).toFloat() as tf.Tensor4D);
        const dy = tf.tidy(() => tf.randomNormal(tf.maxPool(x, pool, stride, pad).shape, 0, 1, 'float32', 6) as tf.Tensor4D);
        const cpu = tf.tidy(() => tf.grad((v: tf.Tensor) => tf.maxPool(v as tf.Tensor4D, pool, stride, pad).mul(dy).sum())(x));
        const ours = maxPoolGradFirst(dy, x, [pool, pool], [stride, stride], pad);
        const [a, b] = [ours.dataSync(), cpu.dataSync()];
        // Same positions (a zero stays zero); overlapping windows may sum in another order.
        expect(Array.from(a, (v, i) => (v === 0) === (b[i] === 0) && Math.abs(v - b[i]) <= 1e-6 * (1 + Math.abs(b[i]))).every(Boolean)).toBe(true);
        tf.dispose([x, dy, cpu, ours]);
      }
    } finally {
      await initBackend('wasm');
    }
  });
});

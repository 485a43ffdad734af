/**
 * A TF.js LayersModel flattened into a straight list of leaf-layer steps.
 *
 * Nested models (a model used as a layer, e.g. MobileNet inside a transfer-learning model) are
 * inlined, their layers named `outer/inner`. Every tensor of the graph gets a string key, so the
 * graph can be run from any point: the core runs the model up to the explained layer, then runs
 * the rest ("the head") again from that layer's activation, under `tf.grad`.
 *
 * Steps are run with plain, differentiable ops (see `applyLayer`) rather than the layers' own
 * `call`, which uses fused kernels whose gradients need `Conv2DBackpropFilter` (absent on wasm).
 */
import * as tf from '@tensorflow/tfjs';

type Layer = tf.layers.Layer;
type SymbolicTensor = tf.SymbolicTensor;

/** One leaf layer applied to keyed inputs, producing keyed outputs. */
export interface Step {
  /** Full path of the layer: `conv_pw_13_relu`, or `mobilenet/conv_pw_13_relu` inside a nested model. */
  name: string;
  layer: Layer;
  inputs: string[];
  outputs: string[];
  /** Output shape of the first output, batch dimension as `null`. */
  shape: (number | null)[];
}

/** A flattened model: topologically ordered steps, input keys and output keys. */
export interface Program {
  steps: Step[];
  inputs: string[];
  outputs: string[];
}

interface Scope {
  prefix: string;
  /** Inner model input tensor id → outer key. */
  bindings: Map<number, string>;
}

const isContainer = (l: Layer): l is tf.LayersModel =>
  Array.isArray((l as tf.LayersModel).layers) && Array.isArray((l as tf.LayersModel).inputs);

/** Flattens `model` (functional, sequential, nested) into a {@link Program}. */
export function compileProgram(model: tf.LayersModel): Program {
  const steps: Step[] = [];
  const resolved = new Map<string, string>();
  const inputs: string[] = [];

  const visit = (t: SymbolicTensor, scope: Scope): string => {
    const bound = scope.bindings.get(t.id);
    if (bound !== undefined) return bound;
    const raw = `${scope.prefix}#${t.id}`;
    const done = resolved.get(raw);
    if (done !== undefined) return done;

    const layer = t.sourceLayer;
    const node = layer.inboundNodes[t.nodeIndex];
    if (layer.getClassName() === 'InputLayer' || node.inputTensors.length === 0) {
      inputs.push(raw);
      resolved.set(raw, raw);
      return raw;
    }
    const inKeys = node.inputTensors.map((x) => visit(x, scope));
    if (isContainer(layer)) {
      const inner: Scope = { prefix: `${scope.prefix}${layer.name}/`, bindings: new Map() };
      layer.inputs.forEach((x, i) => inner.bindings.set(x.id, inKeys[i]));
      const outs = layer.outputs.map((o) => visit(o, inner));
      node.outputTensors.forEach((o, i) => resolved.set(`${scope.prefix}#${o.id}`, outs[i]));
    } else {
      const outKeys = node.outputTensors.map((o) => `${scope.prefix}#${o.id}`);
      const shape = node.outputTensors[0].shape as (number | null)[];
      steps.push({ name: scope.prefix + layer.name, layer, inputs: inKeys, outputs: outKeys, shape });
      outKeys.forEach((k) => resolved.set(k, k));
    }
    return resolved.get(raw)!;
  };

  const top: Scope = { prefix: '', bindings: new Map() };
  const outputs = model.outputs.map((o) => visit(o, top));
  // Inputs in the model's declared order.
  const declared = model.inputs.map((x) => `#${x.id}`);
  return { steps, inputs: declared.every((k) => inputs.includes(k)) ? declared : inputs, outputs };
}

/** Keys of every tensor that depends on `key` (including `key`). */
export function downstreamOf(program: Program, key: string): Set<string> {
  const down = new Set([key]);
  for (const s of program.steps) {
    if (s.inputs.some((k) => down.has(k))) s.outputs.forEach((k) => down.add(k));
  }
  return down;
}

/** Steps needed to compute `wanted` given the keys already in `known`, in order. */
export function stepsFor(program: Program, wanted: string[], known: Set<string>): Step[] {
  const need = new Set(wanted.filter((k) => !known.has(k)));
  const picked: Step[] = [];
  for (let i = program.steps.length - 1; i >= 0; i--) {
    const s = program.steps[i];
    if (!s.outputs.some((k) => need.has(k))) continue;
    picked.push(s);
    s.inputs.forEach((k) => { if (!known.has(k)) need.add(k); });
  }
  return picked.reverse();
}

/** ReLU with an optional cap; relu6 keeps its own kernel so that gradient overrides (guided backprop) see it. */
const relu = (x: tf.Tensor, max?: number | null) =>
  max === 6 ? tf.relu6(x) : max != null ? tf.clipByValue(tf.relu(x), 0, max) : tf.relu(x);

/**
 * Runs `steps` on `env` (key → tensor), adding their outputs to it. Call inside `tf.tidy`.
 * `stripActivationOf`: the step whose final activation (softmax or sigmoid) is dropped, so that its output is the logits.
 * `release` (from {@link lastUses}): intermediates are disposed after their last use, which bounds the
 * memory of a forward pass by a few layers instead of all of them (gradients stay correct: the tape
 * keeps its own references to what it saves).
 */
export function runSteps(steps: Step[], env: Map<string, tf.Tensor>, stripActivationOf?: Step, release?: Map<string, number>): void {
  for (const [i, s] of steps.entries()) {
    const ins = s.inputs.map((k) => {
      const t = env.get(k);
      if (!t) throw new Error(`internal: tensor ${k} for layer '${s.name}' was not computed`);
      return t;
    });
    const outs = applyLayer(s.layer, ins, s === stripActivationOf);
    s.outputs.forEach((k, j) => env.set(k, outs[j]));
    for (const k of s.inputs) {
      if (release?.get(k) !== i) continue;
      const t = env.get(k)!;
      env.delete(k);
      if (![...env.values()].includes(t)) t.dispose(); // an identity layer may have passed it on under another key
    }
  }
}

/** Key → index of the last step of `steps` that reads it, for the keys `steps` produce (see {@link runSteps}). */
export function lastUses(steps: Step[], keep: string[]): Map<string, number> {
  const produced = new Set(steps.flatMap((s) => s.outputs));
  const last = new Map<string, number>();
  steps.forEach((s, i) => s.inputs.forEach((k) => { if (produced.has(k) && !keep.includes(k)) last.set(k, i); }));
  return last;
}

function activation(layer: Layer, name: string | undefined, x: tf.Tensor, strip: boolean): tf.Tensor {
  switch (name ?? 'linear') {
    case 'linear': return x;
    case 'relu': return relu(x);
    case 'relu6': return relu(x, 6);
    case 'softmax': return strip ? x : tf.softmax(x);
    case 'sigmoid': return strip ? x : tf.sigmoid(x);
    default: {
      const fn = (layer as unknown as { activation?: { apply(t: tf.Tensor): tf.Tensor } }).activation;
      if (!fn) throw new Error(`unsupported activation '${name}' in layer '${layer.name}'`);
      return fn.apply(x);
    }
  }
}

interface ConvLike {
  kernel?: tf.LayerVariable; bias?: tf.LayerVariable;
  depthwiseKernel?: tf.LayerVariable; pointwiseKernel?: tf.LayerVariable;
}

type Pad = 'valid' | 'same';

/**
 * Applies one leaf layer in inference mode with differentiable plain ops. Convolutions and dense
 * layers are rewritten (their own `call` uses fused ops); every other layer (or a ReLU with a slope or
 * threshold) runs its own `apply`.
 */
export function applyLayer(layer: Layer, inputs: tf.Tensor[], stripActivation = false): tf.Tensor[] {
  const cfg = layer.getConfig() as Record<string, unknown>;
  const w = layer as unknown as ConvLike;
  const act = (x: tf.Tensor) => activation(layer, cfg.activation as string | undefined, x, stripActivation);
  const addBias = (x: tf.Tensor) => (cfg.useBias !== false && w.bias ? tf.add(x, w.bias.read()) : x);
  const x = inputs[0];
  const strides = cfg.strides as [number, number];
  const padding = cfg.padding as Pad;
  const dil = (cfg.dilationRate as [number, number] | number | undefined) ?? 1;
  if (cfg.dataFormat === 'channelsFirst') throw new Error(`layer '${layer.name}': channelsFirst is not supported`);
  switch (layer.getClassName()) {
    case 'Conv2D':
      return [act(addBias(tf.conv2d(x as tf.Tensor4D, w.kernel!.read() as tf.Tensor4D, strides, padding, 'NHWC', dil)))];
    case 'DepthwiseConv2D':
      return [act(addBias(tf.depthwiseConv2d(x as tf.Tensor4D, w.depthwiseKernel!.read() as tf.Tensor4D, strides, padding, 'NHWC', dil)))];
    case 'SeparableConv2D':
      return [act(addBias(tf.separableConv2d(x as tf.Tensor4D, w.depthwiseKernel!.read() as tf.Tensor4D,
        w.pointwiseKernel!.read() as tf.Tensor4D, strides, padding, dil as [number, number], 'NHWC')))];
    case 'Dense': {
      const k = w.kernel!.read() as tf.Tensor2D;
      const flat = x.reshape([-1, x.shape[x.shape.length - 1]]);
      const y = tf.matMul(flat as tf.Tensor2D, k).reshape([...x.shape.slice(0, -1), k.shape[1]]);
      return [act(addBias(y))];
    }
    case 'Activation':
      return [act(x)];
    case 'ReLU': {
      if (cfg.negativeSlope || cfg.threshold) break;
      return [relu(x, cfg.maxValue as number | null)];
    }
    case 'Softmax':
      return [stripActivation ? x : tf.softmax(x, (cfg.axis as number) ?? -1)];
    case 'Dropout': case 'SpatialDropout1D': case 'SpatialDropout2D': case 'GaussianNoise': case 'GaussianDropout': case 'AlphaDropout':
      return [x];
  }
  const y = layer.apply(inputs.length === 1 ? x : inputs, { training: false }) as tf.Tensor | tf.Tensor[];
  return Array.isArray(y) ? y : [y];
}

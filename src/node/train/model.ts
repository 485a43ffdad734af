/**
 * The transfer-learning classifier: a pretrained CNN truncated at its last convolutional layer, used
 * as a layer of a new model (so the saved model is a nested LayersModel), then a small head:
 * global average pooling → dropout → dense softmax.
 */
import * as tf from '@tensorflow/tfjs';
import { LayersExplainableModel } from '../../model/layers-model.js';
import { applyLayer, compileProgram, runSteps, stepsFor, type Step } from '../../model/program.js';
import { applyTrainable, tapLayer } from './conv.js';
import { GradcamError, type ExplainableModel } from '../../model/types.js';

/** The new model and the parts training needs. */
export interface Classifier {
  /** `input → <base name> (nested, truncated base) → pool → dropout → classes (dense softmax)`. */
  model: tf.LayersModel;
  /** The truncated base, a layer of {@link model}. */
  base: tf.LayersModel;
  /** The dense softmax layer. */
  dense: tf.layers.Layer;
  /** Dropout rate of the head. */
  dropout: number;
}

/**
 * Builds the classifier on `base` (a plain LayersModel such as MobileNet), cut at its default
 * Grad-CAM layer. The base's layers after the cut (its old classifier) are freed; the new model owns
 * the rest, so dispose the new model only.
 */
export function buildClassifier(base: ExplainableModel, classes: number, dropout = 0.2): Classifier {
  if (!(base instanceof LayersExplainableModel)) {
    throw new GradcamError('the base must be a TF.js LayersModel (a GraphModel cannot be trained)', base.source);
  }
  const cutName = base.defaultLayer;
  let cut: tf.layers.Layer;
  try {
    cut = base.model.getLayer(cutName);
  } catch {
    throw new GradcamError(`cannot cut the base at '${cutName}': a nested base is not supported, give the plain pretrained model`, base.source);
  }
  const trunc = tf.model({ inputs: base.model.inputs, outputs: cut.output as tf.SymbolicTensor, name: base.model.name });
  const kept = new Set(trunc.layers);
  for (const l of base.model.layers) if (!kept.has(l) && l.weights.length) l.dispose();

  const input = tf.input({ shape: base.model.inputs[0].shape.slice(1) as number[], name: 'image' });
  let t = trunc.apply(input) as tf.SymbolicTensor;
  t = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(t) as tf.SymbolicTensor;
  t = tf.layers.dropout({ rate: dropout, name: 'dropout' }).apply(t) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: classes, activation: 'softmax', name: 'classes', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) });
  t = dense.apply(t) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: input, outputs: t, name: 'classifier' }), base: trunc, dense, dropout };
}

/**
 * The classifier split for training: a frozen part run once per image (no gradients), and a
 * trainable part (the last `fineTune` blocks of the base, the head) with its variables. Fine-tuned
 * convolutions run as tap sums (see conv.ts), so their weight gradients work on wasm too.
 */
export interface TrainPlan {
  /** Features of a preprocessed batch: the pooled base output `[N, C]`, or with fine-tuning the activation at the cut. */
  frozen(x: tf.Tensor4D): tf.Tensor;
  /** Logits from features; `training` turns dropout on. */
  logits(features: tf.Tensor, training: boolean): tf.Tensor2D;
  /** The variables training updates: the head's, then the fine-tuned base layers'. */
  variables: tf.Variable[];
  /** How many of {@link variables} belong to the head. */
  headVariables: number;
  /** The first trainable layer of the base, when fine-tuning. */
  cutAt?: string;
  /** True when a fine-tuned layer needs the backend's own convolution weight-gradient kernels. */
  needsConvGradients: boolean;
}

const CONV = /^(Conv2D|DepthwiseConv2D|SeparableConv2D)$/;

/**
 * Blocks of the base: a block starts at every convolution except one that follows a depthwise
 * convolution (MobileNet v1: `conv1`, then one block per depthwise + pointwise pair: 14 blocks).
 * Returns the index of the first step of each block.
 */
function blockStarts(steps: Step[]): number[] {
  const starts: number[] = [];
  let prevConv = '';
  steps.forEach((s, i) => {
    const type = s.layer.getClassName();
    if (!CONV.test(type)) return;
    if (prevConv !== 'DepthwiseConv2D') starts.push(i);
    prevConv = type;
  });
  return starts;
}

/**
 * Plans training of `c` with the last `fineTune` blocks of the base trainable (0: head only).
 * The base always runs in inference mode (batch-norm statistics stay as pretrained). `random` seeds dropout.
 */
export function trainPlan(c: Classifier, fineTune = 0, random: () => number = Math.random): TrainPlan {
  const program = compileProgram(c.base);
  const out = program.outputs[0];
  const all = stepsFor(program, [out], new Set(program.inputs));
  let frozenSteps = all;
  let fineSteps: Step[] = [];
  let cutKey = out;
  if (fineTune > 0) {
    const starts = blockStarts(all);
    if (fineTune > starts.length) throw new GradcamError(`--fine-tune ${fineTune}: the base has ${starts.length} blocks`);
    const first = starts[starts.length - fineTune];
    frozenSteps = all.slice(0, first);
    fineSteps = all.slice(first);
    cutKey = fineSteps[0].inputs[0];
    const produced = new Set(fineSteps.flatMap((s) => s.outputs));
    const extra = fineSteps.flatMap((s) => s.inputs).filter((k) => k !== cutKey && !produced.has(k));
    if (extra.length) throw new GradcamError(`cannot fine-tune from '${fineSteps[0].name}': the base is not a chain there`);
  }
  const variables = [c.dense, ...fineSteps.map((s) => s.layer)]
    .flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable));
  return {
    frozen: (x) => tf.tidy(() => {
      const env = new Map<string, tf.Tensor>([[program.inputs[0], x]]);
      runSteps(frozenSteps, env);
      const a = env.get(cutKey)!;
      return fineSteps.length ? a : a.mean([1, 2]);
    }),
    logits: (f, training) => tf.tidy(() => {
      let pooled = f;
      if (fineSteps.length) {
        const env = new Map<string, tf.Tensor>([[cutKey, f]]);
        for (const s of fineSteps) {
          if (tapLayer(s.layer)) env.set(s.outputs[0], applyTrainable(s.layer, env.get(s.inputs[0]) as tf.Tensor4D));
          else runSteps([s], env);
        }
        pooled = env.get(out)!.mean([1, 2]);
      }
      if (training && c.dropout > 0) pooled = tf.dropout(pooled, c.dropout, undefined, Math.floor(random() * 2 ** 31));
      return applyLayer(c.dense, [pooled], true)[0] as tf.Tensor2D;
    }),
    variables,
    headVariables: c.dense.trainableWeights.length,
    cutAt: fineSteps[0]?.name,
    needsConvGradients: fineSteps.some((s) => /Conv/.test(s.layer.getClassName()) && !tapLayer(s.layer)),
  };
}

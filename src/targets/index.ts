/**
 * Targets: what a map explains. A target is a differentiable score over the model's outputs, one
 * value per row; the class logit is the default, and contrast, probability, binary, regression,
 * segmentation and similarity targets are built the same way. Any `{ name, score }` object is a target.
 */
import * as tf from '@tensorflow/tfjs';
import { GradcamError, type ExplainableModel } from '../model/types.js';

/** A score function over a model's outputs: what a map explains. */
export interface Target {
  /** One-line description for JSON and captions, e.g. `class 282 "tiger cat"`, `contrast 282 − 243`. */
  readonly name: string;
  /** The class it is about, where it has one (used for className/logit/probability in the JSON). */
  readonly classIndex?: number;
  /** Differentiable score per row: `outputs` are all model outputs for M rows (all of one image). Returns `[M]`. */
  score(outputs: tf.Tensor[]): tf.Tensor1D;
}

/** What `explain` and the CLI accept as a target: a class index or name, a target string (see {@link parseTarget}), or a {@link Target}. */
export type TargetSpec = number | string | Target;

/** Which model output a target reads (index; default 0, the classification output). */
export interface OutputOption { output?: number }

/** The forms a target string may take, for error messages and `--help`. */
export const TARGET_FORMS = [
  '<class index>', '"<class name>"', 'contrast:A-B', 'segment:C', 'output:I', 'similar:<image>', 'prob:C', 'neg:C',
  'binary:positive|negative',
] as const;

const formsText = () => `valid target forms: ${TARGET_FORMS.join(', ')} (append @<output name or index> to read another output)`;

/** Whether an output shape (batch first) is a spatial map `[N, h, w, K]` / `[N, K, h, w]` with h·w > 1 (segmentation). */
export function isSpatialOutput(shape: readonly (number | null)[]): boolean {
  return shape.length === 4 && (shape[1] ?? 2) * (shape[2] ?? 2) > 1 && (shape[2] ?? 2) * (shape[3] ?? 2) > 1;
}

/**
 * The class axis of a segmentation output `[M, a, b, d]`: the channel axis is the smaller of the
 * first and last non-batch axes (NHWC `[M, h, w, K]` or NCHW `[M, K, h, w]`); last when equal.
 */
function classesLast(shape: number[]): boolean {
  return shape[3] <= shape[1];
}

/**
 * An output as class scores `[M, K]`: flattened, or for a segmentation map the mean over its pixels
 * (what a class's "logit" is for a segmentation model).
 */
export function classScores(y: tf.Tensor): tf.Tensor2D {
  if (isSpatialOutput(y.shape)) return (classesLast(y.shape) ? y.mean([1, 2]) : y.mean([2, 3])) as tf.Tensor2D;
  return y.reshape([y.shape[0], -1]) as tf.Tensor2D;
}

/** Output `i` of `outputs` as class scores `[M, K]` (see {@link classScores}). */
function rows2d(outputs: tf.Tensor[], i = 0): tf.Tensor2D {
  const y = outputs[i];
  if (!y) throw new GradcamError(`the model has no output ${i} (it has ${outputs.length})`);
  return classScores(y);
}

/** Column `c` of a `[M, K]` matrix, checked. */
function column(y: tf.Tensor2D, c: number, what: string): tf.Tensor1D {
  const k = y.shape[1];
  if (!Number.isInteger(c) || c < 0 || c >= k) throw new GradcamError(`${what} ${c} is out of range: the output has ${k} units (0–${k - 1})`);
  return y.slice([0, c], [-1, 1]).reshape([-1]) as tf.Tensor1D;
}

const suffix = (opts: OutputOption) => (opts.output ? ` of output ${opts.output}` : '');

/** Class `c`'s logit (pre-activation output unit `c`; for a segmentation map, its mean over the pixels): the default target. */
export function classTarget(c: number, opts: OutputOption & { label?: string } = {}): Target {
  return {
    name: `class ${c}${opts.label ? ` "${opts.label}"` : ''}${suffix(opts)}`,
    classIndex: c,
    score: (outputs) => column(rows2d(outputs, opts.output), c, 'class'),
  };
}

/** The counterfactual of a target (Grad-CAM paper §3.1): −score, what speaks against it. */
export function negated(t: Target): Target {
  return { name: `not ${t.name}`, classIndex: t.classIndex, score: (outputs) => t.score(outputs).neg() as tf.Tensor1D };
}

/**
 * Class `c`'s probability: the softmax of output `output` (or, with `activation: 'sigmoid'`, the
 * sigmoid of unit `c`). Gradients of a probability also push the other classes down.
 */
export function probability(c: number, opts: OutputOption & { label?: string; activation?: 'softmax' | 'sigmoid' } = {}): Target {
  return {
    name: `probability of class ${c}${opts.label ? ` "${opts.label}"` : ''}${suffix(opts)}`,
    classIndex: c,
    score: (outputs) => {
      const y = rows2d(outputs, opts.output);
      return column(opts.activation === 'sigmoid' ? tf.sigmoid(y) : tf.softmax(y), c, 'class');
    },
  };
}

/** Contrast (`logit a − logit b`): why class `a` rather than class `b`. */
export function contrast(a: number, b: number, opts: OutputOption & { labels?: [string, string] } = {}): Target {
  const label = (c: number, l?: string) => (l ? `${c} "${l}"` : `${c}`);
  return {
    name: `contrast ${label(a, opts.labels?.[0])} − ${label(b, opts.labels?.[1])}${suffix(opts)}`,
    classIndex: a,
    score: (outputs) => {
      const y = rows2d(outputs, opts.output);
      return column(y, a, 'class').sub(column(y, b, 'class')) as tf.Tensor1D;
    },
  };
}

/**
 * A one-unit sigmoid classifier's decision: `positive` explains its logit z, `negative` explains −z
 * (labels `['negative', 'positive']`: class 1 and class 0).
 */
export function binary(side: 'positive' | 'negative', opts: OutputOption & { label?: string } = {}): Target {
  return {
    name: `binary ${side}${opts.label && opts.label !== side ? ` "${opts.label}"` : ''}${suffix(opts)}`,
    classIndex: side === 'positive' ? 1 : 0,
    score: (outputs) => {
      const z = column(rows2d(outputs, opts.output), 0, 'unit');
      return (side === 'positive' ? z : z.neg()) as tf.Tensor1D;
    },
  };
}

/** A regression output: unit `unit` of output `output`, as is. */
export function output(unit: number, opts: OutputOption & { outputName?: string } = {}): Target {
  return {
    name: `output ${unit}${opts.outputName ? ` of "${opts.outputName}"` : suffix(opts)}`,
    score: (outputs) => column(rows2d(outputs, opts.output), unit, 'unit'),
  };
}

/** A segmentation mask: `[h, w]` values (0/1 or weights), row-major, at any resolution (resized nearest to the output's); a `tf.Tensor2D` works too. */
export interface SegmentMask { data: ArrayLike<number>; width: number; height: number }

/**
 * Segmentation region (pytorch-grad-cam's SemanticSegmentationTarget): the sum of class `c`'s logits
 * over a mask. Default mask: the pixels the model itself assigns to `c` (argmax over classes), per
 * image. The output must be 4-D (`[M, h, w, K]` or `[M, K, h, w]`).
 */
export function segment(c: number, mask?: SegmentMask | tf.Tensor2D, opts: OutputOption & { label?: string } = {}): Target {
  return {
    name: `segment class ${c}${opts.label ? ` "${opts.label}"` : ''}${mask ? ' (given mask)' : ''}${suffix(opts)}`,
    classIndex: c,
    score: (outputs) => {
      const y = outputs[opts.output ?? 0];
      if (!y || y.rank !== 4) throw new GradcamError(`segment:${c} needs a 4-D segmentation output; output ${opts.output ?? 0} has shape [${y?.shape.join(',')}]`);
      const nhwc = (classesLast(y.shape) ? y : y.transpose([0, 2, 3, 1])) as tf.Tensor4D;
      const [m, h, w, k] = nhwc.shape;
      if (c < 0 || c >= k || !Number.isInteger(c)) throw new GradcamError(`segment class ${c} is out of range: the output has ${k} classes (0–${k - 1})`);
      const logits = nhwc.slice([0, 0, 0, c], [m, h, w, 1]).reshape([m, h, w]);
      let weight: tf.Tensor;
      if (mask) {
        const t = mask instanceof tf.Tensor ? mask.toFloat().expandDims(2) as tf.Tensor3D : tf.tensor3d(Float32Array.from(mask.data), [mask.height, mask.width, 1]);
        const [mh, mw] = t.shape;
        weight = (mh === h && mw === w ? t : tf.image.resizeNearestNeighbor(t, [h, w], false, true)).reshape([1, h, w]);
      } else {
        // The model's own argmax, as a constant (read back, so no gradient flows through it).
        const own = nhwc.argMax(3).equal(c).toFloat();
        weight = tf.tensor(own.dataSync(), own.shape);
      }
      return logits.mul(weight).sum([1, 2]) as tf.Tensor1D;
    },
  };
}

/**
 * Cosine similarity of output `output` (flattened per row) to a concept vector, e.g. the embedding of
 * reference images (pytorch-grad-cam's SimilarityToConceptTarget).
 */
export function similarTo(vector: ArrayLike<number>, opts: OutputOption & { label?: string } = {}): Target {
  const v = Float32Array.from(vector);
  return {
    name: `similarity to ${opts.label ?? `a ${v.length}-vector`}${suffix(opts)}`,
    score: (outputs) => {
      const y = rows2d(outputs, opts.output);
      if (y.shape[1] !== v.length) throw new GradcamError(`similarity: output ${opts.output ?? 0} has ${y.shape[1]} values per image but the vector has ${v.length}`);
      const ref = tf.tensor2d(v, [v.length, 1]);
      const dot = tf.matMul(y, ref).reshape([-1]);
      return dot.div(y.norm('euclidean', 1).mul(ref.norm()).add(1e-8)) as tf.Tensor1D;
    },
  };
}

const synonyms = (label: string) => label.toLowerCase().split(',').map((s) => s.trim());

/** Resolves a class index or name to a class index, or throws a {@link GradcamError} saying what is valid. */
export function resolveClass(spec: number | string, labels: string[]): number {
  const n = labels.length;
  if (typeof spec === 'number' || /^\d+$/.test(spec.trim())) {
    const i = Number(spec);
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new GradcamError(`class index ${spec} is out of range: valid indices are 0–${n - 1}`);
    return i;
  }
  const q = spec.trim().toLowerCase();
  const exact = labels.map((l, i) => [l, i] as const).filter(([l]) => l.toLowerCase() === q);
  if (exact.length === 1) return exact[0][1];
  const syn = labels.map((l, i) => [l, i] as const).filter(([l]) => synonyms(l).includes(q));
  if (syn.length === 1) return syn[0][1];
  if (syn.length > 1) {
    throw new GradcamError(`class name '${spec}' is ambiguous: ${syn.map(([l, i]) => `${i} "${l}"`).join(', ')}; pass the index`);
  }
  const near = labels.map((l, i) => [l, i] as const).filter(([l]) => l.toLowerCase().includes(q)).slice(0, 8);
  const hint = near.length
    ? `did you mean ${near.map(([l, i]) => `${i} "${l}"`).join(', ')}?`
    : `valid names are the model's labels (e.g. "${labels[0]}"), or an index 0–${n - 1}`;
  throw new GradcamError(`unknown class '${spec}': ${hint}`);
}

/** Indices of the `k` largest values. */
export function topK(values: ArrayLike<number>, k: number): number[] {
  return Array.from(values, (v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, k).map(([, i]) => i);
}

/** Index of a model output given by name or index; throws listing the outputs. */
export function resolveOutput(model: Pick<ExplainableModel, 'outputs'>, spec: string | number): number {
  const i = typeof spec === 'number' ? spec : /^\d+$/.test(spec) ? Number(spec) : model.outputs.findIndex((o) => o.name === spec);
  if (i < 0 || i >= model.outputs.length || !Number.isInteger(i)) {
    throw new GradcamError(`unknown output '${spec}': outputs are ${model.outputs.map((o, k) => `${k} "${o.name}"`).join(', ')}`);
  }
  return i;
}

/** What {@link parseTarget} needs besides the model. */
export interface ParseOptions {
  /** The mask of `segment:` targets (default: the model's own argmax). */
  mask?: SegmentMask;
  /** Concept vectors of `similar:<name>` targets, by name (the CLI computes them from reference images). */
  similar?: Record<string, ArrayLike<number>>;
}

/** Whether `model` is a one-unit sigmoid (binary) classifier. */
const isBinary = (model: Pick<ExplainableModel, 'activation' | 'outputs'>) =>
  model.activation === 'sigmoid' && model.outputs[0].shape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1) === 1;

/**
 * Resolves a target spec for `model`: a {@link Target} as is; a class index or name → its logit
 * (on a one-unit sigmoid model: `binary(...)`); a target string `kind:args`, see {@link TARGET_FORMS}.
 * Throws a {@link GradcamError} listing the valid forms.
 */
export function parseTarget(spec: TargetSpec, model: Pick<ExplainableModel, 'labels' | 'outputs' | 'activation'>, opts: ParseOptions = {}): Target {
  if (typeof spec === 'object') {
    if (!spec || typeof spec.score !== 'function' || typeof spec.name !== 'string') throw new GradcamError(`a target object needs a name and a score function; ${formsText()}`);
    return spec;
  }
  let text = String(spec).trim();
  let out: number | undefined;
  const at = text.lastIndexOf('@');
  if (at > 0 && /^[a-z]+:/i.test(text)) {
    out = resolveOutput(model, text.slice(at + 1));
    text = text.slice(0, at);
  }
  const o = { output: out };
  const labels = model.labels;
  const cls = (s: string) => resolveClass(s, labels);
  const m = /^([a-z]+):(.*)$/i.exec(text);
  if (!m || !/^(contrast|segment|output|similar|prob|neg|binary)$/i.test(m[1])) {
    if (m && !/\s/.test(m[1])) throw new GradcamError(`unknown target '${spec}': ${formsText()}`);
    if (text === '') throw new GradcamError(`empty target: ${formsText()}`);
    const c = cls(text);
    if (out === undefined && isBinary(model)) return binary(c === 1 ? 'positive' : 'negative', { label: labels[c] });
    // A class of a segmentation model: the evidence for its pixels.
    if (isSpatialOutput(model.outputs[out ?? 0].shape)) return segment(c, opts.mask, { ...o, label: labels[c] });
    return classTarget(c, { ...o, label: labels[c] });
  }
  const kind = m[1].toLowerCase();
  const arg = m[2].trim();
  const need = (ok: boolean, form: string) => { if (!ok) throw new GradcamError(`bad target '${spec}': expected ${form}; ${formsText()}`); };
  switch (kind) {
    case 'contrast': {
      // Class names may contain '-': try every split point.
      for (let i = arg.indexOf('-'); i > 0; i = arg.indexOf('-', i + 1)) {
        try {
          const a = cls(arg.slice(0, i)), b = cls(arg.slice(i + 1));
          return contrast(a, b, { ...o, labels: [labels[a], labels[b]] });
        } catch { /* next split */ }
      }
      need(false, 'contrast:A-B with two classes (indices or names), e.g. contrast:282-243');
      break;
    }
    case 'segment': {
      need(arg !== '', 'segment:C, a class index or name');
      const c = cls(arg);
      return segment(c, opts.mask, { ...o, label: labels[c] });
    }
    case 'output': {
      need(/^\d+$/.test(arg), 'output:I with I a unit index, e.g. output:0');
      return output(Number(arg), out === undefined ? {} : { output: out, outputName: model.outputs[out].name });
    }
    case 'similar': {
      need(arg !== '', 'similar:<reference image>');
      const v = opts.similar?.[arg];
      if (!v) throw new GradcamError(`similar:${arg} needs the concept vector: the CLI computes it from the image; in the library use similarTo(vector)`);
      return similarTo(v, { ...o, label: arg });
    }
    case 'prob': {
      need(arg !== '', 'prob:C, a class index or name');
      const c = cls(arg);
      if (isBinary(model) && out === undefined) return binaryProbability(c === 1, labels[c]);
      return probability(c, { ...o, label: labels[c], activation: model.activation === 'sigmoid' ? 'sigmoid' : 'softmax' });
    }
    case 'neg': {
      need(arg !== '', 'neg:C, a class index or name');
      return negated(parseTarget(arg, model, opts));
    }
    case 'binary': {
      need(/^(positive|negative)$/i.test(arg), 'binary:positive or binary:negative');
      if (!isBinary(model) && out === undefined) throw new GradcamError(`binary:${arg} needs a model with one sigmoid output unit; this one has ${labels.length} classes`);
      return binary(arg.toLowerCase() as 'positive' | 'negative', o);
    }
  }
  throw new GradcamError(`unknown target '${spec}': ${formsText()}`);
}

/** A one-unit sigmoid model's probability of the positive (or negative) class. */
function binaryProbability(positive: boolean, label: string): Target {
  return {
    name: `probability of "${label}"`,
    classIndex: positive ? 1 : 0,
    score: (outputs) => {
      const p = tf.sigmoid(column(rows2d(outputs), 0, 'unit'));
      return (positive ? p : tf.scalar(1).sub(p)) as tf.Tensor1D;
    },
  };
}

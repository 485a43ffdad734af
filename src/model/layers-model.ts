import * as tf from '@tensorflow/tfjs';
import { compileProgram, downstreamOf, lastUses, runSteps, stepsFor, type Program, type Step } from './program.js';
import { autoLayer, resolveLayerName } from './layers.js';
import { classCount, labelsFor } from './labels.js';
import { nameFromSource, type ExplainableModel, type FinalActivation, type LayerInfo, type OutputInfo, type Preprocessing, type SplitRun } from './types.js';

type Config = Record<string, unknown>;
const FINAL = /^(softmax|sigmoid)$/;

/** The activation of an `Activation`/`Softmax` layer, if it is a final activation we strip. */
function activationLayer(s: Step): FinalActivation | undefined {
  const cfg = s.layer.getConfig() as Config;
  if (s.layer.getClassName() === 'Softmax') return 'softmax';
  if (s.layer.getClassName() === 'Activation' && FINAL.test(String(cfg.activation))) return cfg.activation as FinalActivation;
  return undefined;
}

/**
 * Where output 0's pre-activation values are: the input of a final softmax/sigmoid layer (looking
 * back over reshapes after it), or the output of a final layer whose own activation is softmax or
 * sigmoid, which is then dropped.
 */
function findLogits(p: Program): { key: string; strip?: Step; activation: FinalActivation } {
  const producer = (key: string) => p.steps.find((s) => s.outputs.includes(key));
  const out = p.outputs[0];
  for (let s = producer(out); s; s = producer(s.inputs[0])) {
    const act = activationLayer(s);
    if (act) return { key: s.inputs[0], activation: act };
    if (!/^(Reshape|Flatten)$/.test(s.layer.getClassName())) break;
  }
  const last = producer(out);
  const act = (last?.layer.getConfig() as Config | undefined)?.activation;
  if (last && FINAL.test(String(act))) return { key: out, strip: last, activation: act as FinalActivation };
  return { key: out, activation: 'none' };
}

/** Options of {@link LayersExplainableModel}. */
export interface LayersModelOptions {
  /** Where it was loaded from. */
  source: string;
  /** Display name (default: from `source`). */
  name?: string;
  /** Labels of output 0 (default: see `labelsFor`). */
  labels?: string[];
  preprocessing: Preprocessing;
  /** `keras` for models built from Keras files. */
  format?: 'layers' | 'keras';
}

/** A TF.js LayersModel (functional, sequential or nested, one or several outputs) as an {@link ExplainableModel}. */
export class LayersExplainableModel implements ExplainableModel {
  readonly format: 'layers' | 'keras';
  readonly name: string;
  readonly source: string;
  readonly labels: string[];
  readonly outputs: OutputInfo[];
  readonly activation: FinalActivation;
  readonly preprocessing: Preprocessing;
  readonly layers: LayerInfo[];
  readonly defaultLayer: string;
  private readonly program: Program;
  /** Keys of the outputs (output 0: its pre-activation values). */
  private readonly outKeys: string[];
  private readonly strip?: Step;
  private readonly steps: Step[];
  private readonly release: Map<string, number>;
  private readonly plans = new Map<string, { key: string; body: Step[]; bodyRelease: Map<string, number>; captured: string[]; head: Step[] }>();

  /** `new LayersExplainableModel(model, { source, labels, preprocessing })` (or the older positional form). */
  constructor(model: tf.LayersModel, opts: LayersModelOptions);
  constructor(model: tf.LayersModel, source: string, labels: string[] | undefined, preprocessing: Preprocessing);
  constructor(readonly model: tf.LayersModel, optsOrSource: LayersModelOptions | string, labels?: string[], preprocessing?: Preprocessing) {
    const opts = typeof optsOrSource === 'string' ? { source: optsOrSource, labels, preprocessing: preprocessing! } : optsOrSource;
    this.format = opts.format ?? 'layers';
    this.source = opts.source;
    this.name = opts.name ?? nameFromSource(opts.source);
    this.preprocessing = opts.preprocessing;
    this.program = compileProgram(model);
    const { key, strip, activation } = findLogits(this.program);
    this.activation = activation;
    this.strip = strip;
    this.outKeys = [key, ...this.program.outputs.slice(1)];
    this.steps = stepsFor(this.program, this.outKeys, new Set(this.program.inputs));
    this.release = lastUses(this.steps, this.outKeys);
    const shapeOf = (k: string, fallback: (number | null)[]) => this.program.steps.find((s) => s.outputs[0] === k)?.shape ?? fallback;
    this.outputs = this.outKeys.map((k, i) => ({
      name: model.outputNames?.[i] ?? `output_${i}`,
      shape: shapeOf(k, model.outputs[i].shape as (number | null)[]),
    }));
    this.labels = labelsFor(classCount(this.outputs[0].shape), opts.labels, activation);
    this.layers = this.steps
      .filter((s) => s.shape.length === 4)
      .map((s) => ({ name: s.name, type: s.layer.getClassName(), shape: s.shape }));
    this.defaultLayer = autoLayer(this.layers);
  }

  resolveLayer(name?: string): string {
    return resolveLayerName(this, name);
  }

  async run(x: tf.Tensor4D): Promise<tf.Tensor[]> {
    return this.forward(x);
  }

  forward(x: tf.Tensor4D): tf.Tensor[] {
    return tf.tidy(() => {
      const env = new Map<string, tf.Tensor>([[this.program.inputs[0], x]]);
      runSteps(this.steps, env, this.strip, this.release);
      return this.outKeys.map((k) => env.get(k)!);
    });
  }

  private plan(layer: string) {
    let plan = this.plans.get(layer);
    if (!plan) {
      const step = this.steps.find((s) => s.name === layer)!;
      const key = step.outputs[0];
      const down = downstreamOf(this.program, key);
      const head = this.steps.filter((s) => s.inputs.some((k) => down.has(k)));
      const produced = new Set(head.flatMap((s) => s.outputs));
      // Tensors the head reads from before the layer (skip connections), and outputs that do not depend on it.
      const captured = [...new Set([...head.flatMap((s) => s.inputs), ...this.outKeys])].filter((k) => k !== key && !produced.has(k));
      const want = [key, ...captured];
      const body = stepsFor(this.program, want, new Set(this.program.inputs));
      plan = { key, body, bodyRelease: lastUses(body, want), captured, head };
      this.plans.set(layer, plan);
    }
    return plan;
  }

  async split(x: tf.Tensor4D, layer: string): Promise<SplitRun> {
    const plan = this.plan(this.resolveLayer(layer));
    const [activation, ...captured] = tf.tidy(() => {
      const env = new Map<string, tf.Tensor>([[this.program.inputs[0], x]]);
      runSteps(plan.body, env, this.strip, plan.bodyRelease);
      return [plan.key, ...plan.captured].map((k) => env.get(k)!);
    });
    const saved = new Map(plan.captured.map((k, i) => [k, captured[i]]));
    return {
      activation: activation as tf.Tensor4D,
      head: (a, rows) => {
        const env = new Map<string, tf.Tensor>([[plan.key, a]]);
        const idx = rows && tf.tensor1d(rows, 'int32');
        for (const [k, t] of saved) env.set(k, idx ? tf.gather(t, idx) : t);
        runSteps(plan.head, env, this.strip);
        return this.outKeys.map((k) => env.get(k)!);
      },
      dispose: () => {
        for (const t of [activation, ...captured]) if (t !== x) t.dispose();
      },
    };
  }

  dispose(): void {
    this.model.dispose();
  }
}

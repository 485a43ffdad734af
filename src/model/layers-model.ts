import * as tf from '@tensorflow/tfjs';
import { compileProgram, downstreamOf, lastUses, runSteps, stepsFor, type Program, type Step } from './program.js';
import { autoLayer, resolveLayerName } from './layers.js';
import type { ExplainableModel, LayerInfo, Preprocessing, SplitRun } from './types.js';

const isSoftmaxLayer = (s: Step) => {
  const cfg = s.layer.getConfig() as Record<string, unknown>;
  return s.layer.getClassName() === 'Softmax' || (s.layer.getClassName() === 'Activation' && cfg.activation === 'softmax');
};

/**
 * Where the logits are: the input of a final softmax layer (looking back over reshapes after it),
 * or the output of a final layer whose own activation is softmax, which is then dropped.
 */
function findLogits(p: Program): { key: string; strip?: Step } {
  const producer = (key: string) => p.steps.find((s) => s.outputs.includes(key));
  const out = p.outputs[0];
  for (let s = producer(out); s; s = producer(s.inputs[0])) {
    if (isSoftmaxLayer(s)) return { key: s.inputs[0] };
    if (!/^(Reshape|Flatten)$/.test(s.layer.getClassName())) break;
  }
  const last = producer(out);
  if (last && (last.layer.getConfig() as Record<string, unknown>).activation === 'softmax') return { key: out, strip: last };
  return { key: out };
}

/** A TF.js LayersModel (functional, sequential or nested) as an {@link ExplainableModel}. */
export class LayersExplainableModel implements ExplainableModel {
  readonly kind = 'layers' as const;
  readonly layers: LayerInfo[];
  readonly defaultLayer: string;
  private readonly program: Program;
  private readonly logitsKey: string;
  private readonly strip?: Step;
  private readonly logitSteps: Step[];
  private readonly logitRelease: Map<string, number>;
  private readonly plans = new Map<string, { key: string; body: string[]; head: Step[] }>();

  constructor(
    readonly model: tf.LayersModel,
    readonly source: string,
    readonly labels: string[],
    readonly preprocessing: Preprocessing,
  ) {
    this.program = compileProgram(model);
    const { key, strip } = findLogits(this.program);
    this.logitsKey = key;
    this.strip = strip;
    this.logitSteps = stepsFor(this.program, [key], new Set(this.program.inputs));
    this.logitRelease = lastUses(this.logitSteps, [key]);
    this.layers = this.logitSteps
      .filter((s) => s.shape.length === 4)
      .map((s) => ({ name: s.name, type: s.layer.getClassName(), shape: s.shape }));
    this.defaultLayer = autoLayer(this.layers);
  }

  resolveLayer(name?: string): string {
    return resolveLayerName(this, name);
  }

  logits(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const env = new Map<string, tf.Tensor>([[this.program.inputs[0], x]]);
      runSteps(this.logitSteps, env, this.strip, this.logitRelease);
      const y = env.get(this.logitsKey)!;
      return y.reshape([y.shape[0], -1]) as tf.Tensor2D;
    });
  }

  private plan(layer: string) {
    let plan = this.plans.get(layer);
    if (!plan) {
      const step = this.logitSteps.find((s) => s.name === layer)!;
      const key = step.outputs[0];
      const down = downstreamOf(this.program, key);
      const head = this.logitSteps.filter((s) => s.inputs.some((k) => down.has(k)));
      const produced = new Set(head.flatMap((s) => s.outputs));
      const captured = [...new Set(head.flatMap((s) => s.inputs))].filter((k) => k !== key && !produced.has(k));
      plan = { key, body: [key, ...captured], head };
      this.plans.set(layer, plan);
    }
    return plan;
  }

  split(x: tf.Tensor4D, layer: string): SplitRun {
    const plan = this.plan(this.resolveLayer(layer));
    const env = new Map<string, tf.Tensor>([[this.program.inputs[0], x]]);
    runSteps(stepsFor(this.program, plan.body, new Set(env.keys())), env);
    const captured = plan.body.slice(1).map((k) => [k, env.get(k)!] as const);
    return {
      activation: env.get(plan.key) as tf.Tensor4D,
      head: (a, rows) => {
        const headEnv = new Map<string, tf.Tensor>([[plan.key, a]]);
        const idx = rows && tf.tensor1d(rows, 'int32');
        for (const [k, t] of captured) headEnv.set(k, idx ? tf.gather(t, idx) : t);
        runSteps(plan.head, headEnv, this.strip);
        const y = headEnv.get(this.logitsKey)!;
        return y.reshape([y.shape[0], -1]) as tf.Tensor2D;
      },
    };
  }

  dispose(): void {
    this.model.dispose();
  }
}

/**
 * An ONNX model as an explainable model: ONNX Runtime runs every forward pass (the whole network,
 * or the body up to the explained tensor, added as an extra graph output together with the skip
 * tensors the rest needs); the rest (the head) is the imported TF.js program, differentiable.
 */
import * as tf from '@tensorflow/tfjs';
import { GradcamError, type ExplainableModel, type FinalActivation, type LayerInfo, type OutputInfo, type Preprocessing, type RankMasks, type SplitRun } from '../types.js';
import { disposeProgram, execute, stepsFor, type Program, type Step, type ValueMeta } from './graph.js';
import { toPlain, type Val } from './ops.js';
import type { OrtFeed, OrtOutput, OrtRunner, OrtVariant } from './ort.js';
import { BLEND_INPUTS, withBlendedInput, withGraphCut, type OnnxNode } from './proto.js';
import { TOKEN_MARK } from './tokens.js';

export interface TokenOption { grid: [number, number]; drop: number }

/** The rest of the network after a layer as an ONNX Runtime session: fed `inputs`, fetching `outputs`. */
interface OrtHead { inputs: string[]; outputs: string[]; variant: OrtVariant }

const shapeText = (l: LayerInfo) => `[${l.shape.slice(1).map((d) => d ?? '?').join(',')}]`;

/** Grid of a token count: n − 1 (a class token) or n itself a square. */
export function tokenGrid(n: number): TokenOption | undefined {
  for (const drop of [1, 0]) {
    const s = Math.round(Math.sqrt(n - drop));
    if (s > 1 && s * s === n - drop) return { grid: [s, s], drop };
  }
  return undefined;
}

/** A tensor's data (a buffer of its own, as ONNX Runtime's feeds need) with `dims`; disposes it. */
async function download(t: tf.Tensor, dims: number[] = t.shape): Promise<OrtFeed> {
  try {
    return { data: (await t.data()) as Float32Array, dims };
  } finally {
    t.dispose();
  }
}

/** Rows `r … r+rows−1` of a batch `t`, as a tensor of their own (the caller disposes it). */
const rowsOf = <T extends tf.Tensor>(t: T, r: number, rows: number): T => (rows === t.shape[0] ? t.clone() : t.slice([r], [rows])) as T;

/** NHWC shape of a logical 4-D shape. */
const nhwcShape = (s: (number | null)[]) => (s.length === 4 ? [s[0], s[2], s[3], s[1]] : s);

/** Tensor names of a torch module (`layer4.1` → `/layer4/layer4.1/`), as torch.onnx.export scopes them. */
const moduleScope = (module: string) => {
  const parts = module.split('.');
  return `/${parts.map((_, i) => parts.slice(0, i + 1).join('.')).join('/')}/`;
};

export interface OnnxModelParts {
  program: Program;
  runner: OrtRunner;
  name: string;
  source: string;
  labels: string[];
  preprocessing: Preprocessing;
  /** Default layer from the model's metadata (`targetLayer.tensor` of the `.json`). */
  targetLayer?: string;
  /** Token layout for token layers whose count is not a square (+1). */
  tokens?: TokenOption;
  /** The ONNX graph's nodes and weight names (to cut the graph for ONNX Runtime heads). */
  graph: { nodes: OnnxNode[]; initializers: Set<string> };
}

export class OnnxExplainableModel implements ExplainableModel {
  readonly format = 'onnx' as const;
  readonly name: string;
  readonly source: string;
  readonly labels: string[];
  readonly preprocessing: Preprocessing;
  readonly outputs: OutputInfo[];
  readonly activation: FinalActivation;
  readonly layers: LayerInfo[];
  readonly defaultLayer: string;
  readonly program: Program;
  readonly runner: OrtRunner;
  /** Graph tensors returned as the model's outputs (output 0 with a final softmax/sigmoid stripped). */
  private readonly outputTensors: string[];
  private readonly fullSteps: Step[];
  private readonly heads = new Map<string, { steps: Step[]; fetch: string[] }>();
  private readonly images = new WeakMap<tf.Tensor, Promise<OrtFeed>>();
  private readonly graph: OnnxModelParts['graph'];
  private readonly cuts = new Map<string, OrtHead | undefined>();
  private disposed = false;

  constructor(parts: OnnxModelParts) {
    const p = parts.program;
    this.program = p;
    this.runner = parts.runner;
    this.graph = parts.graph;
    this.name = parts.name;
    this.source = parts.source;
    this.preprocessing = parts.preprocessing;

    // Output 0 pre-activation: a final Softmax/Sigmoid (possibly behind Identity) is stripped.
    let out0 = p.outputs[0];
    let activation: 'softmax' | 'sigmoid' | 'none' | undefined;
    for (let m = p.meta.get(out0); m && m.step >= 0;) {
      const s = p.steps[m.step];
      if (s.node.opType === 'Softmax' || s.node.opType === 'Sigmoid') {
        activation = s.node.opType === 'Softmax' ? 'softmax' : 'sigmoid';
        out0 = s.inputs[0];
        break;
      }
      if (s.node.opType !== 'Identity') break;
      m = p.meta.get(s.inputs[0]);
    }
    this.outputTensors = [out0, ...p.outputs.slice(1)];
    this.outputs = this.outputTensors.map((n, i) => ({ name: i === 0 ? p.outputs[0] : n, shape: nhwcShape(p.meta.get(n)!.shape) }));
    const shape0 = p.meta.get(out0)!.shape;
    const classes = (shape0.length === 4 ? shape0[1] : shape0.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1)) ?? 1;
    this.activation = activation ?? (classes === 1 ? 'sigmoid' : 'softmax');
    this.labels = parts.labels;
    this.fullSteps = stepsFor(p, this.outputTensors, new Set([p.input]));

    // Explainable tensors: float outputs of steps the outputs need, spatial 4-D or tokens, batch first.
    const needed = new Set(this.fullSteps.flatMap((s) => s.outputs));
    this.layers = [];
    for (const m of p.meta.values()) {
      if (!needed.has(m.name) || m.dtype !== 'float32' || m.shape[0] !== null || m.shape.slice(1).some((d) => d === null)) continue;
      if (m.shape.length === 4 && (m.shape[2] as number) * (m.shape[3] as number) > 1) {
        this.layers.push({ name: m.name, type: m.op, shape: nhwcShape(m.shape) });
      } else if (m.shape.length === 3) {
        const tokens = tokenGrid(m.shape[1] as number) ?? (parts.tokens && (m.shape[1] as number) - parts.tokens.drop === parts.tokens.grid[0] * parts.tokens.grid[1] ? parts.tokens : undefined);
        if (tokens) this.layers.push({ name: m.name, type: m.op, shape: m.shape, tokens });
      }
    }
    this.layers.sort((a, b) => p.meta.get(a.name)!.step - p.meta.get(b.name)!.step);
    const fromMeta = parts.targetLayer && this.layers.some((l) => l.name === parts.targetLayer) ? parts.targetLayer : undefined;
    this.defaultLayer = fromMeta ?? autoLayer(this.layers, p, classes, shape0.length === 4);
  }

  resolveLayer(name?: string): string {
    const candidates = () => this.layers.map((l) => `${l.name} ${shapeText(l)}`).join(', ');
    if (name === undefined || name === 'auto') {
      if (!this.defaultLayer) throw new GradcamError(`model has no tensor with a spatial or token output to explain; tensors: ${candidates() || 'none'}`, this.source);
      return this.defaultLayer;
    }
    if (this.layers.some((l) => l.name === name)) return name;
    // A torch module path (pytorch-grad-cam's target_layers): its last explainable tensor.
    const scope = moduleScope(name);
    const inModule = this.layers.filter((l) => l.name.startsWith(scope));
    if (inModule.length) return inModule[inModule.length - 1].name;
    const bySuffix = this.layers.filter((l) => l.name.endsWith(`/${name}`) || l.name.endsWith(name));
    if (bySuffix.length === 1) return bySuffix[0].name;
    if (bySuffix.length > 1) throw new GradcamError(`layer '${name}' is ambiguous: ${bySuffix.map((l) => l.name).join(', ')}`);
    throw new GradcamError(`layer '${name}' not found; give a tensor name or a torch module path (e.g. layer4.1); tensors: ${candidates()}`);
  }

  private layerInfo(name: string): LayerInfo {
    return this.layers.find((l) => l.name === name)!;
  }

  /** NCHW data of rows `r … r+rows−1` (default all) of an NHWC batch, for ONNX Runtime. */
  private async nchw(x: tf.Tensor4D, r = 0, rows = x.shape[0]): Promise<OrtFeed> {
    const c = x.shape[3];
    const wanted = this.program.meta.get(this.program.input)!.shape[1];
    if (c !== (wanted ?? c)) throw new GradcamError(`the model wants ${wanted} input channels, got ${c}`, this.source);
    return download(tf.tidy(() => tf.transpose(rowsOf(x, r, rows), [0, 3, 1, 2])));
  }

  /** An ORT output as a stored TF.js tensor of `meta`'s layout. */
  private stored(o: OrtOutput, meta: ValueMeta): Val {
    const data = o.data instanceof Float32Array ? o.data : Float32Array.from(o.data as ArrayLike<number | bigint>, Number);
    return tf.tidy(() => {
      const t = tf.tensor(data, o.dims, meta.dtype === 'float32' ? 'float32' : 'int32');
      return meta.layout === 'nhwc' ? { t: tf.transpose(t, [0, 2, 3, 1]), layout: 'nhwc' as const } : { t, layout: 'plain' as const };
    });
  }

  private extra(names: string[]) {
    const graphOutputs = new Set(this.program.outputs);
    return names.filter((n) => !graphOutputs.has(n)).map((n) => ({ name: n, elemType: this.program.meta.get(n)!.dtype === 'float32' ? 1 : 7 }));
  }

  /** Output tensors as the model returns them: 4-D outputs NHWC (classes last), others as ONNX has them. */
  private asOutput(v: Val): tf.Tensor {
    if (v.layout === 'nhwc') return v.t;
    return v.t.rank === 4 ? tf.transpose(v.t, [0, 2, 3, 1]) : v.t;
  }

  /**
   * A blend image's NCHW data (or a rank map's, `[1, 1, H, W]`), made once per tensor (tensors are
   * immutable) and fed again by identity.
   */
  private image(x: tf.Tensor4D | tf.Tensor2D): Promise<OrtFeed> {
    let f = this.images.get(x);
    if (!f) {
      const d = x.rank === 2 ? download(x.clone(), [1, 1, ...x.shape]) : this.nchw(x as tf.Tensor4D);
      this.images.set(x, f = d.then((v) => ({ ...v, keep: true })));
    }
    return f;
  }

  /** Forward pass on ONNX Runtime: every output for a preprocessed NHWC batch. */
  async run(x: tf.Tensor4D): Promise<tf.Tensor[]> {
    this.check();
    const input = this.runner.inputName;
    const outs = await this.runner.runRows(x.shape[0], async (r, rows) => ({ [input]: await this.nchw(x, r, rows) }), this.outputTensors, this.extra(this.outputTensors));
    return this.outputsOf(outs);
  }

  /**
   * `run` on `from + (to − from) · mask` for each mask, blended by ONNX Runtime itself (a session of
   * the model with that blend in front of its input): per row only the mask `[H, W]` crosses over,
   * or for {@link RankMasks} one number (the graph compares the rank map, sent once, with it).
   */
  async runMasked(to: tf.Tensor4D, masks: tf.Tensor4D | RankMasks, from?: tf.Tensor4D): Promise<tf.Tensor[]> {
    this.check();
    const ranked = !(masks instanceof tf.Tensor);
    const variant: OrtVariant = {
      key: `${from ? 'blend' : 'scale'}${ranked ? ':ranked' : ''}`,
      edit: (b) => withBlendedInput(b, this.runner.inputName, !!from, ranked),
    };
    const n = ranked ? masks.counts.length : masks.shape[0];
    const outs = await this.runner.runRows(n, async (r, rows) => ({
      ...(ranked
        ? {
          [BLEND_INPUTS.rank]: await this.image(masks.rank),
          [BLEND_INPUTS.count]: { data: Float32Array.from(masks.counts.slice(r, r + rows)), dims: [rows, 1, 1, 1] },
        }
        // [rows, H, W, 1] is laid out as [rows, 1, H, W].
        : { [BLEND_INPUTS.mask]: await download(rowsOf(masks, r, rows), [rows, 1, ...masks.shape.slice(1, 3)]) }),
      [BLEND_INPUTS.to]: await this.image(to),
      ...(from ? { [BLEND_INPUTS.from]: await this.image(from) } : {}),
    }), this.outputTensors, this.extra(this.outputTensors), variant);
    return this.outputsOf(outs);
  }

  /** ORT's outputs of the model as TF.js tensors (4-D ones NHWC). */
  private outputsOf(outs: OrtOutput[]): tf.Tensor[] {
    return outs.map((o) => {
      const t = tf.tensor(o.data instanceof Float32Array ? o.data : Float32Array.from(o.data as ArrayLike<number>, Number), o.dims);
      if (t.rank !== 4) return t;
      const y = tf.transpose(t, [0, 2, 3, 1]);
      t.dispose();
      return y;
    });
  }

  /** The whole network in TF.js (differentiable with respect to the input; slower than `run`). */
  forward(x: tf.Tensor4D): tf.Tensor[] {
    this.check();
    return tf.tidy(() => execute(this.program, this.fullSteps, new Map([[this.program.input, { t: x, layout: 'nhwc' }]]), this.outputTensors, x.shape[0]).map((v) => this.asOutput(v)));
  }

  /** Steps after `layer` and the tensors ORT must supply for them (the layer, skip inputs, outputs not downstream). */
  private headOf(layer: string): { steps: Step[]; fetch: string[] } {
    let h = this.heads.get(layer);
    if (h) return h;
    const p = this.program;
    const down = new Set([layer]);
    for (const s of this.fullSteps) if (s.inputs.some((k) => down.has(k))) s.outputs.forEach((k) => down.add(k));
    const wanted = this.outputTensors.filter((o) => down.has(o));
    const steps = stepsFor(p, wanted, new Set([layer])).filter((s) => s.outputs.some((k) => down.has(k)));
    // Tensors the token rewrite made (tokens.ts) exist only in this program, never in ONNX Runtime's
    // graph: one read from before the layer (a residual's class token) is made by the head instead.
    for (let more = true; more;) {
      const made = new Set(steps.flatMap((s) => s.outputs));
      const makers = this.fullSteps.filter((s) => !steps.includes(s) && s.outputs.some((k) => k.includes(TOKEN_MARK) && !made.has(k) && steps.some((t) => t.inputs.includes(k))));
      steps.push(...makers);
      more = makers.length > 0;
    }
    steps.sort((a, b) => this.fullSteps.indexOf(a) - this.fullSteps.indexOf(b));
    const produced = new Set(steps.flatMap((s) => s.outputs));
    const skips = new Set<string>();
    for (const s of steps) for (const k of s.inputs) if (k && k !== layer && !produced.has(k) && !p.statics.has(k)) skips.add(k);
    for (const o of this.outputTensors) if (!down.has(o)) skips.add(o);
    h = { steps, fetch: [layer, ...skips] };
    this.heads.set(layer, h);
    return h;
  }

  /**
   * The head as ONNX Runtime runs it, forward only: the graph cut at `layer`, fed the layer and the
   * skip tensors the body run fetched. Undefined when the cut nodes read anything else (a shape
   * computed from the image, an integer tensor): the TF.js head serves then.
   */
  private ortHead(layer: string): OrtHead | undefined {
    if (this.cuts.has(layer)) return this.cuts.get(layer);
    const { fetch } = this.headOf(layer);
    const { nodes, initializers } = this.graph;
    const producer = new Map<string, OnnxNode>();
    for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
    const down = new Set([layer]);
    const keep = new Set<string>();
    for (const n of nodes) {
      if (!n.inputs.some((k) => down.has(k))) continue;
      keep.add(n.outputs[0]);
      n.outputs.forEach((o) => down.add(o));
    }
    // Constants the cut nodes read (Constant nodes and what is computed from weights alone) come along.
    const known = new Map<string, boolean>();
    const constant = (t: string): boolean => {
      if (!t || initializers.has(t)) return true;
      let c = known.get(t);
      if (c === undefined) {
        const n = producer.get(t);
        c = !!n && n.inputs.every(constant);
        if (c) keep.add(n!.outputs[0]);
        known.set(t, c);
      }
      return c;
    };
    const inputs = new Set<string>();
    let ok = true;
    for (const n of nodes) {
      if (!keep.has(n.outputs[0]) || !n.inputs.some((k) => down.has(k))) continue;
      for (const k of n.inputs) {
        if (k === layer) inputs.add(k);
        else if (down.has(k) || constant(k)) continue;
        else if (fetch.includes(k) && this.program.meta.get(k)?.dtype === 'float32') inputs.add(k);
        else ok = false;
      }
    }
    const outputs = this.outputTensors.filter((o) => down.has(o) && o !== layer);
    const head = ok && outputs.length ? {
      inputs: [...inputs], outputs,
      variant: { key: `head:${layer}`, edit: (b: Uint8Array) => withGraphCut(b, keep, [...inputs]) },
    } : undefined;
    this.cuts.set(layer, head);
    return head;
  }

  /**
   * Body on ONNX Runtime up to `layer` (added as an extra output with the skip tensors the head reads),
   * head in TF.js.
   */
  async split(x: tf.Tensor4D, layerName: string): Promise<SplitRun> {
    this.check();
    const layer = this.resolveLayer(layerName);
    const info = this.layerInfo(layer);
    const { steps, fetch } = this.headOf(layer);
    // The model's outputs come in the same pass (ORT runs the rest of the graph in a fraction of the
    // TF.js head's time), so predictions need no head pass.
    const finals = this.outputTensors.filter((o) => !fetch.includes(o));
    const all = [...fetch, ...finals];
    const outs = await this.runner.run({ [this.runner.inputName]: await this.nchw(x) }, all, this.extra(all));
    const vals = outs.map((o, i) => this.stored(o, this.program.meta.get(all[i])!));
    const finalVals = vals.splice(fetch.length);
    const outputs = this.outputTensors.map((o) => {
      const v = finalVals[finals.indexOf(o)] ?? vals[fetch.indexOf(o)];
      return tf.tidy(() => this.asOutput(v).clone());
    });
    finalVals.forEach((v) => v.t.dispose());
    const [act, ...captured] = vals;
    const n = x.shape[0];
    let activation: tf.Tensor4D;
    let dropped: tf.Tensor | undefined;
    if (info.tokens) {
      const { grid: [gh, gw], drop } = info.tokens;
      const [, tokens, c] = act.t.shape;
      activation = tf.tidy(() => act.t.slice([0, drop, 0], [n, gh * gw, c]).reshape([n, gh, gw, c])) as tf.Tensor4D;
      dropped = drop ? act.t.slice([0, 0, 0], [n, drop, c]) : undefined;
      act.t.dispose();
      void tokens;
    } else {
      activation = act.t as tf.Tensor4D;
    }
    const skipNames = fetch.slice(1);
    const p = this.program;
    /** The head's feeds for activations `a` (rows of the batch: `rows`, default all). */
    const feedsFor = (a: tf.Tensor4D, rows?: number[]): Map<string, Val> => {
      const m = a.shape[0];
      const identity = !rows || (rows.length === n && rows.every((r, i) => r === i));
      const pick = (t: tf.Tensor) => (identity ? t : tf.gather(t, tf.tensor1d(rows!, 'int32')));
      const feeds = new Map<string, Val>();
      if (info.tokens) {
        const [gh, gw] = info.tokens.grid;
        const flat = a.reshape([m, gh * gw, a.shape[3]]);
        feeds.set(layer, { t: dropped ? tf.concat([pick(dropped), flat], 1) : flat, layout: 'plain' });
      } else {
        feeds.set(layer, { t: a, layout: 'nhwc' });
      }
      skipNames.forEach((k, i) => feeds.set(k, { t: pick(captured[i].t), layout: captured[i].layout }));
      return feeds;
    };
    const head = (a: tf.Tensor4D, rows?: number[]): tf.Tensor[] => {
      const feeds = feedsFor(a, rows);
      const computed = execute(p, steps, feeds, this.outputTensors.filter((o) => !skipNames.includes(o)), a.shape[0]);
      let j = 0;
      return this.outputTensors.map((o) => {
        const v = skipNames.includes(o) ? feeds.get(o)! : computed[j++];
        const t = this.asOutput(v);
        return t === a || skipNames.includes(o) ? t.clone() : t;
      });
    };
    const cut = this.ortHead(layer);
    const runHead = cut && (async (a: tf.Tensor4D, rows?: number[]): Promise<tf.Tensor[]> => {
      this.check();
      const m = a.shape[0];
      const [inputs, passed] = tf.tidy(() => {
        const feeds = feedsFor(a, rows);
        const onnx = (v: Val) => (v.layout === 'nhwc' ? tf.transpose(v.t, [0, 3, 1, 2]) : v.t.clone());
        return [cut.inputs.map((k) => onnx(feeds.get(k)!)), this.outputTensors.filter((o) => !cut.outputs.includes(o)).map((o) => this.asOutput(feeds.get(o)!).clone())];
      });
      try {
        const outs = await this.runner.runRows(m, async (r, k) => Object.fromEntries(await Promise.all(cut.inputs.map(async (name, i) =>
          [name, await download(rowsOf(inputs[i], r, k))] as const))), cut.outputs, this.extra(cut.outputs), cut.variant);
        const computed = this.outputsOf(outs);
        let j = 0;
        let q = 0;
        return this.outputTensors.map((o) => (cut.outputs.includes(o) ? computed[j++] : passed[q++]));
      } catch (e) {
        tf.dispose(passed);
        throw e;
      } finally {
        tf.dispose(inputs);
      }
    });
    return {
      activation,
      head,
      ...(runHead ? { runHead } : {}),
      outputs,
      dispose: () => {
        tf.dispose(outputs);
        activation.dispose();
        dropped?.dispose();
        captured.forEach((v) => v.t.dispose());
      },
    };
  }

  private check(): void {
    if (this.disposed) throw new GradcamError('the model was disposed', this.source);
  }

  /** Frees the TF.js weights and releases the ONNX Runtime sessions. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeProgram(this.program);
    void this.runner.dispose();
  }
}

/**
 * The layer `auto` picks.
 * - Token models (ViT; token tensors after the last spatial one, e.g. the patch embedding): the input of the last block's first LayerNorm, as pytorch-grad-cam's ViT
 *   example does (`blocks[-1].norm1`): the last token tensor made by a LayerNormalization before the
 *   last Softmax (later token tensors only reach the output through the class token).
 * - Segmentation (4-D output): the last tensor at the smallest resolution read by two or more ops
 *   (where the backbone hands over to the head), else the last at that resolution.
 * - Classifiers: the last spatial tensor that is not a class map (channels ≠ classes, e.g. SqueezeNet's
 *   final 1000-channel convolution).
 */
export function autoLayer(layers: LayerInfo[], p: Program, classes: number, segmentation: boolean): string {
  const step = (l: LayerInfo) => p.meta.get(l.name)!.step;
  const tokenLayers = layers.filter((l) => l.tokens);
  const spatial = layers.filter((l) => !l.tokens && l.shape[3] !== classes);
  if (tokenLayers.length && (!spatial.length || step(tokenLayers.at(-1)!) > step(spatial.at(-1)!))) {
    const lastSoftmax = p.steps.reduce((a, s, i) => (s.node.opType === 'Softmax' ? i : a), -1);
    const before = tokenLayers.filter((l) => step(l) < lastSoftmax);
    const norms = before.filter((l) => l.type === 'LayerNormalization');
    return (norms.at(-1) ?? before.at(-1) ?? tokenLayers.at(-1))!.name;
  }
  if (!spatial.length) return layers.at(-1)?.name ?? '';
  if (segmentation) {
    const res = (l: LayerInfo) => (l.shape[1] as number) * (l.shape[2] as number);
    const smallest = Math.min(...spatial.map(res));
    const deepest = spatial.filter((l) => res(l) === smallest);
    const readers = (name: string) => p.steps.filter((s) => s.inputs.includes(name)).length;
    return (deepest.filter((l) => readers(l.name) >= 2).at(-1) ?? deepest.at(-1))!.name;
  }
  return spatial.at(-1)!.name;
}

export { toPlain };

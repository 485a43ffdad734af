/**
 * How a TF.js GraphModel is run for explaining, beyond a plain classifier (needed by detectors, issue 17):
 *
 * - an NCHW input (ONNX conversions) gets NHWC images, transposed once at the input;
 * - NCHW inner tensors are explained as NHWC grids (transposed out of the body, back into the head);
 * - the part after a layer runs alone, fed with the layer's activation and every tensor from before
 *   the layer that it reads ("skip inputs", e.g. CenterNet's decoder reading `c2_reverse` …
 *   `c4_reverse` from the backbone), instead of re-running the body from the input;
 * - a graph converted with batch 1 written in runs any batch: the body one image at a time when the
 *   input placeholder is fixed at 1; trailing Reshape/Transpose/Identity ops of an output are
 *   replayed with the actual batch; an output whose computation after the layer fixes the batch
 *   otherwise (e.g. a decoded-detections output built with Reshape and Gather) is computed one row at
 *   a time from the batched tensors it reads.
 */
import * as tf from '@tensorflow/tfjs';

/** A node of a graph model's topology (`modelTopology.node` of model.json). */
export interface GraphNode { name: string; op: string; input?: string[] }

export const nodeName = (input: string) => input.replace(/^\^/, '').replace(/:\d+$/, '');

/** Nodes in execution order that lead to `targets` (inclusive). */
export function ancestors(byName: Map<string, GraphNode>, targets: string[]): GraphNode[] {
  const order: GraphNode[] = [];
  const seen = new Set<string>();
  const stack: [string, boolean][] = targets.map((t) => [nodeName(t), false] as [string, boolean]).reverse();
  while (stack.length) {
    const [name, expanded] = stack.pop()!;
    const node = byName.get(name);
    if (!node) continue;
    if (expanded) { order.push(node); continue; }
    if (seen.has(name)) continue;
    seen.add(name);
    stack.push([name, true]);
    for (const i of [...(node.input ?? [])].reverse()) if (!seen.has(nodeName(i))) stack.push([nodeName(i), false]);
  }
  return order;
}

/** Names of the nodes among `needed` that depend on `layer` (including it). */
function downstream(needed: GraphNode[], layer: string): Set<string> {
  const down = new Set<string>([layer]);
  for (const n of needed) if ((n.input ?? []).some((i) => down.has(nodeName(i)))) down.add(n.name);
  return down;
}

/**
 * The tensors the part of the graph after `layer` reads from before it (with their `:k` output
 * index): inputs of nodes downstream of `layer` that are neither downstream, nor `layer`, nor constants.
 */
export function skipInputs(nodes: GraphNode[], layer: string, outputs: string[]): string[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const needed = ancestors(byName, outputs);
  const down = downstream(needed, layer);
  const skips = new Set<string>();
  for (const n of needed) {
    if (!down.has(n.name) || n.name === layer) continue;
    for (const i of n.input ?? []) {
      if (i.startsWith('^')) continue;
      const src = byName.get(nodeName(i));
      if (!src || down.has(src.name) || src.op === 'Const') continue;
      skips.add(i);
    }
  }
  return [...skips];
}

/**
 * Per node, whether its 4-D tensor is NHWC or NCHW: the input's layout, switched by every Transpose
 * with an NHWC↔NCHW permutation, kept by every other op (TF ops are NHWC on NHWC inputs).
 */
export function nodeLayouts(nodes: GraphNode[], input: string, inputLayout: 'NHWC' | 'NCHW', perm: (name: string) => number[] | undefined): Map<string, 'NHWC' | 'NCHW'> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const out = new Map<string, 'NHWC' | 'NCHW'>();
  for (const n of ancestors(byName, nodes.map((m) => m.name))) {
    if (n.name === input) { out.set(n.name, inputLayout); continue; }
    const first = n.input?.find((i) => byName.get(nodeName(i))?.op !== 'Const');
    let layout = first ? out.get(nodeName(first)) ?? 'NHWC' : 'NHWC';
    if (n.op === 'Transpose' && n.input?.[1]) {
      const p = perm(n.input[1])?.join(',');
      if (p === '0,2,3,1') layout = 'NHWC';
      else if (p === '0,3,1,2') layout = 'NCHW';
    }
    out.set(n.name, layout);
  }
  return out;
}

/** Ops that may fix the batch size when they appear after the layer (other than an output's trailing shape ops). */
const BATCH_FIXING = /^(Reshape|GatherV2|GatherNd|StridedSlice|Slice|Squeeze|Pack|Unpack|SparseToDense|Where|NonMaxSuppressionV\d|TopKV2|ExpandDims)$/;
const SHAPE_OPS = /^(Identity|Reshape|Transpose|Squeeze|ExpandDims)$/;

interface Tail { source: string; ops: { op: string; shape: number[]; perm?: number[] }[] }

/** A run split at a layer (see `SplitRun` in types.ts). */
export interface PlannedSplit {
  activation: tf.Tensor4D;
  head(a: tf.Tensor4D, rows?: number[]): tf.Tensor[];
  dispose(): void;
}

export class GraphPlan {
  readonly inputLayout: 'NHWC' | 'NCHW';
  /** The input placeholder's batch is written in as 1. */
  readonly fixedBatch: boolean;
  private readonly byName: Map<string, GraphNode>;
  private layouts = new Map<string, 'NHWC' | 'NCHW'>();
  private tails: Tail[] = [];
  private readonly perLayer = new Map<string, { skips: string[]; unsafe: Set<number>; independent: number[] }>();

  constructor(readonly model: tf.GraphModel, private readonly nodes: GraphNode[], private readonly input: string, private readonly outNodes: string[]) {
    this.byName = new Map(nodes.map((n) => [n.name, n]));
    const s = model.inputs[0]?.shape ?? [];
    this.inputLayout = s.length === 4 && (s[1] === 3 || s[1] === 1) && (s[3] ?? 0) > 4 ? 'NCHW' : 'NHWC';
    this.fixedBatch = s[0] === 1;
  }

  /** The network input `[height, width, channels]` read from the input placeholder (either layout), where known. */
  static inputSize(shape: readonly (number | null)[] | undefined): { size?: [number, number]; channels?: number; nchw: boolean } {
    const s = shape ?? [];
    const nchw = s.length === 4 && (s[1] === 3 || s[1] === 1) && (s[3] ?? 0) > 4;
    const [h, w, c] = nchw ? [s[2], s[3], s[1]] : [s[1], s[2], s[3]];
    return { size: h && w && h > 0 && w > 0 ? [h, w] : undefined, channels: c ?? undefined, nchw };
  }

  private perm(name: string): number[] | undefined {
    const w = (this.model.weights as Record<string, tf.Tensor[]>)[nodeName(name)];
    return w?.[0] && w[0].rank === 1 ? Array.from(w[0].dataSync()) : undefined;
  }

  /** An NHWC batch as the graph's input. */
  toInput(x: tf.Tensor4D): tf.Tensor4D {
    return this.inputLayout === 'NCHW' ? (x.transpose([0, 3, 1, 2]) as tf.Tensor4D) : x;
  }

  /** Executes `names` (always a list). */
  private exec(feed: tf.NamedTensorMap, names: string[]): tf.Tensor[] {
    const r = this.model.execute(feed, names);
    return Array.isArray(r) ? r : [r];
  }

  /**
   * Shapes of `names` and of the outputs from one run on a blank input; learns the layouts and the
   * outputs' trailing shape ops. Returns the shapes of `names`, 4-D NCHW ones reported as NHWC.
   */
  discover(size: [number, number], channels: number, names: string[]): number[][] {
    this.layouts = nodeLayouts(this.nodes, nodeName(this.input), this.inputLayout, (n) => this.perm(n));
    const order = ancestors(this.byName, this.outNodes).filter((n) => n.op !== 'Const' && n.op !== 'Placeholder');
    const all = [...new Set([...names, ...order.map((n) => n.name), ...this.outNodes])];
    const shapes = tf.tidy(() => this.exec({ [this.input]: this.toInput(tf.zeros([1, ...size, channels])) }, all).map((t) => t.shape));
    const shapeOf = new Map(all.map((n, i) => [nodeName(n), shapes[i]]));
    this.tails = this.outNodes.map((out) => {
      const ops: Tail['ops'] = [];
      let source = out;
      for (let node = this.byName.get(nodeName(out)); node && SHAPE_OPS.test(node.op) && node.input?.length;) {
        const shape = shapeOf.get(node.name) ?? [];
        const perm = node.op === 'Transpose' ? this.perm(node.input[1]) : undefined;
        if (shape[0] !== 1 || (node.op === 'Transpose' && perm?.[0] !== 0)) break;
        ops.unshift({ op: node.op, shape, perm });
        source = node.input[0];
        node = this.byName.get(nodeName(source));
      }
      return { source, ops };
    });
    return names.map((n) => {
      const sh = shapeOf.get(nodeName(n)) ?? [];
      return sh.length === 4 && this.layouts.get(nodeName(n)) === 'NCHW' ? [sh[0], sh[2], sh[3], sh[1]] : sh;
    });
  }

  /** Every output for an NHWC batch (one image at a time when the input's batch is fixed at 1). */
  run(x: tf.Tensor4D): tf.Tensor[] {
    return tf.tidy(() => {
      if (!this.fixedBatch || x.shape[0] === 1) return this.exec({ [this.input]: this.toInput(x) }, this.outNodes);
      const per = Array.from({ length: x.shape[0] }, (_, i) => this.exec({ [this.input]: this.toInput(x.slice(i, 1)) }, this.outNodes));
      return this.outNodes.map((_, o) => tf.concat(per.map((p) => p[o])));
    });
  }

  private layerPlan(layer: string) {
    let p = this.perLayer.get(layer);
    if (!p) {
      // Skips that do not depend on the input (shape arithmetic on constants) are left to the graph.
      const needed = ancestors(this.byName, this.outNodes);
      const fromInput = downstream(needed, nodeName(this.input));
      const skips = skipInputs(this.nodes, layer, this.outNodes).filter((s) => fromInput.has(nodeName(s)));
      const down = downstream(needed, layer);
      const unsafe = new Set<number>();
      this.tails.forEach((t, i) => {
        if (ancestors(this.byName, [t.source]).some((n) => down.has(n.name) && n.name !== layer && BATCH_FIXING.test(n.op))) unsafe.add(i);
      });
      // Outputs the layer does not reach (e.g. another stride's head): computed with the body.
      const independent = this.tails.map((t, i) => (down.has(nodeName(t.source)) ? -1 : i)).filter((i) => i >= 0);
      p = { skips, unsafe, independent };
      this.perLayer.set(layer, p);
    }
    return p;
  }

  /** Runs the body to `layer` and returns its NHWC activation and the rest as a function of it. `x` stays the caller's. */
  split(x: tf.Tensor4D, layer: string): PlannedSplit {
    const { skips, unsafe, independent } = this.layerPlan(layer);
    const fixed = [...new Set(independent.map((i) => this.tails[i].source))];
    const nchw = this.layouts.get(layer) === 'NCHW';
    const fromInput = skips.filter((s) => nodeName(s) === nodeName(this.input));
    const inner = skips.filter((s) => nodeName(s) !== nodeName(this.input));
    const body = (xi: tf.Tensor4D) => this.exec({ [this.input]: this.toInput(xi) }, [layer, ...inner, ...fixed]);
    const [activation, ...saved] = tf.tidy(() => {
      const got = !this.fixedBatch || x.shape[0] === 1
        ? body(x)
        : ((per) => per[0].map((_, j) => tf.concat(per.map((p) => p[j]))))(Array.from({ length: x.shape[0] }, (_, i) => body(x.slice(i, 1))));
      return [nchw ? got[0].transpose([0, 2, 3, 1]) : got[0], ...got.slice(1), ...(fromInput.length ? [this.inputLayout === 'NCHW' ? this.toInput(x) : x.clone()] : [])];
    }) as [tf.Tensor4D, ...tf.Tensor[]];
    const constants = saved.splice(inner.length, fixed.length);
    const feeds = [...inner, ...fromInput.map(() => this.input)];
    return {
      activation: activation as tf.Tensor4D,
      head: (a, rows) => {
        const m = a.shape[0];
        const identity = !rows || (rows.length === x.shape[0] && rows.every((r, i) => r === i));
        const idx = identity ? undefined : tf.tensor1d(rows!, 'int32');
        const feed: tf.NamedTensorMap = { [layer]: nchw ? a.transpose([0, 3, 1, 2]) : a };
        feeds.forEach((name, i) => { feed[name] = idx ? tf.gather(saved[i], idx) : saved[i]; });
        const safe = this.outNodes.map((_, i) => i).filter((i) => m === 1 || !unsafe.has(i));
        const sources = [...new Set(safe.map((i) => this.tails[i].source))];
        const computed = sources.filter((src) => !fixed.includes(src));
        const ran = computed.length ? this.exec(feed, computed) : [];
        // An output the layer does not reach still takes `a` (times 0), so its gradient is zero, not an error.
        const zero = fixed.length ? a.sum().mul(0) : undefined;
        const got = sources.map((src) => (fixed.includes(src)
          ? (idx ? tf.gather(constants[fixed.indexOf(src)], idx) : constants[fixed.indexOf(src)]).add(zero!)
          : ran[computed.indexOf(src)]));
        const out: tf.Tensor[] = new Array(this.outNodes.length);
        for (const i of safe) {
          let t = got[sources.indexOf(this.tails[i].source)];
          for (const op of this.tails[i].ops) t = op.op === 'Transpose' ? t.transpose(op.perm) : op.op === 'Identity' ? t : t.reshape([m, ...op.shape.slice(1)]);
          out[i] = t;
        }
        // Outputs whose computation fixes the batch: one row at a time, fed with that row of everything
        // already computed, and only when read (a detection target never reads them).
        for (const i of this.outNodes.map((_, j) => j).filter((j) => !safe.includes(j))) {
          let value: tf.Tensor | undefined;
          Object.defineProperty(out, i, {
            enumerable: true,
            get: () => value ??= tf.concat(Array.from({ length: m }, (_, r) => {
              const f: tf.NamedTensorMap = {};
              for (const [k, t] of Object.entries(feed)) f[k] = t.slice(r, 1);
              sources.forEach((src, j) => { f[src] = got[j].slice(r, 1); });
              return this.exec(f, [this.outNodes[i]])[0];
            })),
          });
        }
        return out;
      },
      dispose: () => tf.dispose([activation, ...saved, ...constants]),
    };
  }
}

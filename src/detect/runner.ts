/**
 * A detector GraphModel behind the model seam's shape (`run` → every output, `split` → activation and
 * the differentiable rest): NCHW inputs transposed once at the input, NCHW inner tensors explained as
 * NHWC grids, and the rest after a layer run alone, fed with the layer and the skip inputs.
 */
import * as tf from '@tensorflow/tfjs';
import { GradcamError, type Preprocessing } from '../model/types.js';
import { ancestors, nodeLayouts, nodeName, skipInputs, toNchw, toNhwc, type GraphNode } from './graph.js';

export interface RunnerLayer { name: string; type: string; shape: (number | null)[]; layout: 'NHWC' | 'NCHW' }
export interface RunnerOutput { name: string; shape: (number | null)[] }

export interface DetectorSplit {
  /** `[N, h, w, C]`. */
  activation: tf.Tensor4D;
  /**
   * Every output (or only those listed in `only`; the others are left undefined) for activations `a`
   * `[M, h, w, C]` of images `rows` (default: row i is image i). Differentiable.
   */
  head(a: tf.Tensor4D, rows?: number[], only?: number[]): tf.Tensor[];
  dispose(): void;
}

export class GraphRunner {
  readonly format = 'graph' as const;
  readonly input: string;
  readonly inputLayout: 'NHWC' | 'NCHW';
  readonly size: [number, number];
  readonly outputs: RunnerOutput[];
  readonly layers: RunnerLayer[];
  private readonly outputNodes: string[];
  private readonly layouts: Map<string, 'NHWC' | 'NCHW'>;
  private readonly skips = new Map<string, string[]>();
  /** Per output: the node before its trailing shape ops, and those ops (replayed for any batch size). */
  private readonly tails: { source: string; ops: { op: string; shape: number[]; perm?: number[] }[] }[];

  constructor(readonly model: tf.GraphModel, private readonly nodes: GraphNode[], readonly name: string, readonly source: string) {
    const input = model.inputs[0];
    this.input = nodeName(input.name);
    const s = input.shape ?? [];
    this.inputLayout = s.length === 4 && (s[1] === 3 || s[1] === 1) && (s[3] ?? 0) > 4 ? 'NCHW' : 'NHWC';
    const [h, w] = this.inputLayout === 'NCHW' ? [s[2], s[3]] : [s[1], s[2]];
    this.size = [h && h > 0 ? h : 512, w && w > 0 ? w : 512];
    this.outputNodes = model.outputNodes;
    const byName = new Map(nodes.map((n) => [n.name, n]));
    this.layouts = nodeLayouts(nodes, this.input, this.inputLayout, model.weights);
    const order = ancestors(byName, this.outputNodes)
      .filter((n) => n.op !== 'Const' && n.op !== 'Placeholder' && !this.outputNodes.map(nodeName).includes(n.name));
    const shapes = tf.tidy(() => {
      const outs = model.execute(this.toInput(tf.zeros([1, ...this.size, 3])), [...order.map((n) => n.name), ...this.outputNodes]) as tf.Tensor[];
      return outs.map((t) => t.shape);
    });
    this.outputs = this.outputNodes.map((n, i) => ({ name: nodeName(n), shape: [null, ...shapes[order.length + i].slice(1)] }));
    // Converted graphs often end in Reshapes with the batch (1) written in: the head of a batch of
    // boxes runs up to the last real op and replays those shape ops with the batch it has.
    const shapeOf = new Map(order.map((n, i) => [n.name, shapes[i]]));
    this.outputNodes.forEach((n, i) => shapeOf.set(nodeName(n), shapes[order.length + i]));
    const permOf = (name: string) => {
      const w = (model.weights as Record<string, tf.Tensor[]>)[nodeName(name)];
      return w?.[0] ? Array.from(w[0].dataSync()) : undefined;
    };
    this.tails = this.outputNodes.map((out) => {
      const ops: { op: string; shape: number[]; perm?: number[] }[] = [];
      let source = out;
      for (let node = byName.get(nodeName(out)); node && /^(Identity|Reshape|Transpose|Squeeze|ExpandDims)$/.test(node.op) && node.input?.length;) {
        const shape = shapeOf.get(node.name) ?? [];
        const perm = node.op === 'Transpose' ? permOf(node.input[1]) : undefined;
        if (shape[0] !== 1 || (node.op === 'Transpose' && perm?.[0] !== 0)) break;
        ops.unshift({ op: node.op, shape, perm });
        source = node.input[0];
        node = byName.get(nodeName(source));
      }
      return { source, ops };
    });
    this.layers = order.map((n, i) => {
      const layout = this.layouts.get(n.name) ?? 'NHWC';
      const sh = shapes[i];
      const shape = sh.length === 4 ? [null, ...(layout === 'NCHW' ? [sh[2], sh[3], sh[1]] : sh.slice(1))] : [null, ...sh.slice(1)];
      return { name: n.name, type: n.op, layout, shape };
    }).filter((l) => l.shape.length === 4 && (l.shape[1] as number) > 1);
  }

  /** Executes `names`, always returning a list. */
  private exec(feed: tf.NamedTensorMap, names: string[]): tf.Tensor[] {
    const r = this.model.execute(feed, names);
    return Array.isArray(r) ? r : [r];
  }

  private toInput(x: tf.Tensor4D): tf.Tensor4D {
    return this.inputLayout === 'NCHW' ? toNchw(x) : x;
  }

  resolveLayer(name: string): RunnerLayer {
    const exact = this.layers.find((l) => l.name === name);
    if (exact) return exact;
    const suffix = this.layers.filter((l) => l.name.endsWith(`/${name}`) || l.name.endsWith(name));
    if (suffix.length === 1) return suffix[0];
    throw new GradcamError(`unknown layer '${name}'${suffix.length ? `: ambiguous (${suffix.slice(0, 4).map((l) => l.name).join(', ')}…)` : ''}; run \`gradcam inspect\` to list layers`);
  }

  /** Every output for an NHWC batch. Caller disposes. */
  run(x: tf.Tensor4D): tf.Tensor[] {
    return tf.tidy(() => this.exec({ [this.input]: this.toInput(x) }, this.outputNodes));
  }

  /** Runs the body up to `layer` (NHWC activation) and returns the rest, fed with the activation and the skip inputs. */
  split(x: tf.Tensor4D, layerName: string): DetectorSplit {
    const layer = this.resolveLayer(layerName);
    if (!this.skips.has(layer.name)) this.skips.set(layer.name, skipInputs(this.nodes, layer.name, this.outputNodes));
    const skips = this.skips.get(layer.name)!;
    const input = this.toInput(x);
    const fetched = this.exec({ [this.input]: input }, [layer.name, ...skips.filter((s) => nodeName(s) !== this.input)]);
    const raw = fetched[0] as tf.Tensor4D;
    const activation = layer.layout === 'NCHW' ? tf.tidy(() => toNhwc(raw)) : raw;
    const saved = new Map<string, tf.Tensor>();
    skips.filter((s) => nodeName(s) !== this.input).forEach((s, i) => saved.set(s, fetched[i + 1]));
    if (skips.some((s) => nodeName(s) === this.input)) saved.set(this.input, input);
    else input !== x && input.dispose();
    return {
      activation,
      head: (a, rows, only) => {
        const feed: tf.NamedTensorMap = { [layer.name]: layer.layout === 'NCHW' ? toNchw(a) : a };
        const pick = rows && !(rows.length === x.shape[0] && rows.every((r, i) => r === i)) ? tf.tensor1d(rows, 'int32') : undefined;
        for (const [k, t] of saved) feed[k] = pick ? tf.gather(t, pick) : t;
        const wanted = only ?? this.outputNodes.map((_, i) => i);
        const sources = [...new Set(wanted.map((i) => this.tails[i].source))];
        const got = this.exec(feed, sources);
        const out: tf.Tensor[] = new Array(this.outputNodes.length);
        for (const i of wanted) {
          let t = got[sources.indexOf(this.tails[i].source)];
          for (const op of this.tails[i].ops) {
            if (op.op === 'Transpose') t = t.transpose(op.perm);
            else if (op.op !== 'Identity') t = t.reshape([a.shape[0], ...op.shape.slice(1)]);
          }
          out[i] = t;
        }
        return out;
      },
      dispose: () => {
        if (activation !== raw) raw.dispose();
        activation.dispose();
        for (const [k, t] of saved) if (t !== x) t.dispose(); else void k;
      },
    };
  }

  dispose(): void {
    this.model.dispose();
  }
}

export type { Preprocessing };

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
  /** Every output for activations `a` `[M, h, w, C]` of images `rows` (default: row i is image i). Differentiable. */
  head(a: tf.Tensor4D, rows?: number[]): tf.Tensor[];
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
    this.layers = order.map((n, i) => {
      const layout = this.layouts.get(n.name) ?? 'NHWC';
      const sh = shapes[i];
      return { name: n.name, type: n.op, layout, shape: sh.length === 4 ? [null, ...(layout === 'NCHW' ? [sh[2], sh[3], sh[1]] : sh.slice(1))] : [null, ...sh.slice(1)] };
    }).filter((l) => l.shape.length === 4 && (l.shape[1] as number) > 1);
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
    return tf.tidy(() => this.model.execute({ [this.input]: this.toInput(x) }, this.outputNodes) as tf.Tensor[]);
  }

  /** Runs the body up to `layer` (NHWC activation) and returns the rest, fed with the activation and the skip inputs. */
  split(x: tf.Tensor4D, layerName: string): DetectorSplit {
    const layer = this.resolveLayer(layerName);
    if (!this.skips.has(layer.name)) this.skips.set(layer.name, skipInputs(this.nodes, layer.name, this.outputNodes));
    const skips = this.skips.get(layer.name)!;
    const input = this.toInput(x);
    const fetched = this.model.execute({ [this.input]: input }, [layer.name, ...skips.filter((s) => nodeName(s) !== this.input)]) as tf.Tensor[];
    const raw = fetched[0] as tf.Tensor4D;
    const activation = layer.layout === 'NCHW' ? tf.tidy(() => toNhwc(raw)) : raw;
    const saved = new Map<string, tf.Tensor>();
    skips.filter((s) => nodeName(s) !== this.input).forEach((s, i) => saved.set(s, fetched[i + 1]));
    if (skips.some((s) => nodeName(s) === this.input)) saved.set(this.input, input);
    else input !== x && input.dispose();
    return {
      activation,
      head: (a, rows) => {
        const feed: tf.NamedTensorMap = { [layer.name]: layer.layout === 'NCHW' ? toNchw(a) : a };
        const pick = rows && !(rows.length === x.shape[0] && rows.every((r, i) => r === i)) ? tf.tensor1d(rows, 'int32') : undefined;
        for (const [k, t] of saved) feed[k] = pick ? tf.gather(t, pick) : t;
        return this.model.execute(feed, this.outputNodes) as tf.Tensor[];
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

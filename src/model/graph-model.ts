import * as tf from '@tensorflow/tfjs';
import { autoLayer, resolveLayerName } from './layers.js';
import { classCount, labelsFor } from './labels.js';
import type { LayersModelOptions } from './layers-model.js';
import { nameFromSource, type ExplainableModel, type FinalActivation, type LayerInfo, type OutputInfo, type Preprocessing, type SplitRun } from './types.js';

/** A node of a graph model's topology (`modelTopology.node` of model.json). */
export interface GraphNode { name: string; op: string; input?: string[] }

/** GraphModel.execute returns a bare tensor for one output: always a list. */
const list = (y: tf.Tensor | tf.Tensor[]) => (Array.isArray(y) ? y : [y]);

const nodeName = (input: string) => input.replace(/^\^/, '').replace(/:\d+$/, '');

/** Options of {@link GraphExplainableModel}: those of a LayersModel but the format. */
export type GraphModelOptions = Omit<LayersModelOptions, 'format'>;

/**
 * A TF.js GraphModel as an {@link ExplainableModel}. A layer is any node of the graph; the model is
 * split there by executing up to the node, then executing the rest with the node fed as an input.
 */
export class GraphExplainableModel implements ExplainableModel {
  readonly format = 'graph' as const;
  readonly name: string;
  readonly source: string;
  readonly labels: string[];
  readonly outputs: OutputInfo[];
  readonly activation: FinalActivation;
  readonly preprocessing: Preprocessing;
  readonly layers: LayerInfo[];
  readonly defaultLayer: string;
  private readonly input: string;
  /** Output nodes; output 0 is the node before its final softmax/sigmoid. */
  private readonly outNodes: string[];

  /** @param nodes the graph's nodes (`modelTopology.node` of model.json), for layer discovery */
  constructor(readonly model: tf.GraphModel, nodes: GraphNode[], opts: GraphModelOptions) {
    this.source = opts.source;
    this.name = opts.name ?? nameFromSource(opts.source);
    this.preprocessing = opts.preprocessing;
    this.input = model.inputNodes[0];
    const byName = new Map(nodes.map((n) => [n.name, n]));
    // Output 0 pre-activation: when it is a softmax or sigmoid (possibly reshaped), take its input.
    let out = nodeName(model.outputNodes[0]);
    let activation: FinalActivation = 'none';
    for (let n = byName.get(out); n?.input?.length; n = byName.get(nodeName(n.input[0]))) {
      if (n.op === 'Softmax' || n.op === 'Sigmoid') { out = nodeName(n.input[0]); activation = n.op === 'Softmax' ? 'softmax' : 'sigmoid'; break; }
      if (!/^(Identity|Reshape|Squeeze)$/.test(n.op)) break;
    }
    this.activation = activation;
    this.outNodes = [out, ...model.outputNodes.slice(1).map(nodeName)];

    // Ancestors of the outputs in execution order.
    const order: GraphNode[] = [];
    const seen = new Set<string>();
    const stack: [string, boolean][] = [...this.outNodes].reverse().map((o) => [o, false]);
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
    const candidates = order.filter((n) => n.op !== 'Const' && n.op !== 'Placeholder' && n.name !== this.input && !this.outNodes.includes(n.name));

    // Shapes come from one run on a blank input.
    const [h, w] = opts.preprocessing.size;
    const shapes = tf.tidy(() => {
      const outs = list(model.execute(tf.zeros([1, h, w, opts.preprocessing.channels ?? 3]), [...candidates.map((n) => n.name), ...this.outNodes]));
      return outs.map((t) => t.shape);
    });
    const outShapes = shapes.slice(candidates.length);
    this.outputs = this.outNodes.map((n, i) => ({ name: i === 0 ? nodeName(model.outputNodes[0]) : n, shape: [null, ...outShapes[i].slice(1)] }));
    this.labels = labelsFor(classCount(this.outputs[0].shape), opts.labels, activation);
    this.layers = candidates
      .map((n, i) => ({ name: n.name, type: n.op, shape: [null, ...shapes[i].slice(1)] }))
      .filter((l) => l.shape.length === 4);
    this.defaultLayer = autoLayer(this.layers);
  }

  resolveLayer(name?: string): string {
    return resolveLayerName(this, name);
  }

  async run(x: tf.Tensor4D): Promise<tf.Tensor[]> {
    return this.forward(x);
  }

  forward(x: tf.Tensor4D): tf.Tensor[] {
    return list(this.model.execute({ [this.input]: x }, this.outNodes));
  }

  async split(x: tf.Tensor4D, layer: string): Promise<SplitRun> {
    const name = this.resolveLayer(layer);
    const activation = this.model.execute({ [this.input]: x }, name) as tf.Tensor4D;
    return {
      activation,
      head: (a, rows) => {
        // The input is fed too, for graphs whose head also reads tensors from before the layer.
        const xin = rows ? tf.gather(x, tf.tensor1d(rows, 'int32')) : x;
        return list(this.model.execute({ [this.input]: xin, [name]: a }, this.outNodes));
      },
      dispose: () => activation.dispose(),
    };
  }

  dispose(): void {
    this.model.dispose();
  }
}

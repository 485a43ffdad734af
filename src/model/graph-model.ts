import * as tf from '@tensorflow/tfjs';
import { ancestors, GraphPlan, nodeName, type GraphNode } from './graph-plan.js';
import { autoLayer, resolveLayerName } from './layers.js';
import { classCount, labelsFor } from './labels.js';
import type { LayersModelOptions } from './layers-model.js';
import { nameFromSource, type ExplainableModel, type FinalActivation, type LayerInfo, type OutputInfo, type Preprocessing, type SplitRun } from './types.js';

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
  /** NCHW inputs and layers, skip inputs, graphs with batch 1 written in (see graph-plan.ts). */
  private readonly plan: GraphPlan;

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
    const order = ancestors(byName, this.outNodes);
    const candidates = order.filter((n) => n.op !== 'Const' && n.op !== 'Placeholder' && n.name !== this.input && !this.outNodes.includes(n.name));

    // Shapes come from one run on a blank input.
    this.plan = new GraphPlan(model, nodes, this.input, this.outNodes);
    const shapes = this.plan.discover(opts.preprocessing.size, opts.preprocessing.channels ?? 3, [...candidates.map((n) => n.name), ...this.outNodes]);
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
    return this.plan.run(x);
  }

  async split(x: tf.Tensor4D, layer: string): Promise<SplitRun> {
    // The rest after the layer is fed with the layer and the tensors it reads from before it.
    return this.plan.split(x, this.resolveLayer(layer));
  }

  dispose(): void {
    this.model.dispose();
  }
}

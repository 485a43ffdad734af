import * as tf from '@tensorflow/tfjs';
import { autoLayer, resolveLayerName } from './layers.js';
import type { ExplainableModel, LayerInfo, Preprocessing, SplitRun } from './types.js';

interface GraphNode { name: string; op: string; input?: string[] }

const nodeName = (input: string) => input.replace(/^\^/, '').replace(/:\d+$/, '');

/**
 * A TF.js GraphModel as an {@link ExplainableModel}. A layer is any node of the graph; the model is
 * split there by executing up to the node, then executing the rest with the node fed as an input.
 */
export class GraphExplainableModel implements ExplainableModel {
  readonly kind = 'graph' as const;
  readonly layers: LayerInfo[];
  readonly defaultLayer: string;
  readonly labels: string[];
  private readonly input: string;
  private readonly logitsNode: string;

  /**
   * @param nodes the graph's nodes (`modelTopology.node` of model.json), for layer discovery
   * @param makeLabels labels from the number of logits
   */
  constructor(
    readonly model: tf.GraphModel,
    nodes: GraphNode[],
    readonly source: string,
    makeLabels: (classes: number) => string[],
    readonly preprocessing: Preprocessing,
  ) {
    this.input = model.inputNodes[0];
    const byName = new Map(nodes.map((n) => [n.name, n]));
    // Explain the logits: when the output is a softmax (possibly reshaped), take its input.
    let out = nodeName(model.outputNodes[0]);
    for (let n = byName.get(out); n?.input?.length; n = byName.get(nodeName(n.input[0]))) {
      if (n.op === 'Softmax') { out = nodeName(n.input[0]); break; }
      if (!/^(Identity|Reshape|Squeeze)$/.test(n.op)) break;
    }
    this.logitsNode = out;

    // Ancestors of the logits in execution order.
    const order: GraphNode[] = [];
    const seen = new Set<string>();
    const stack: [string, boolean][] = [[out, false]];
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
    const candidates = order.filter((n) => n.op !== 'Const' && n.op !== 'Placeholder' && n.name !== this.input);

    // Shapes come from one run on a blank input.
    const [h, w] = preprocessing.size;
    const shapes = tf.tidy(() => {
      const outs = model.execute(tf.zeros([1, h, w, 3]), [...candidates.map((n) => n.name), out]) as tf.Tensor[];
      return outs.map((t) => t.shape);
    });
    this.labels = makeLabels(shapes[shapes.length - 1].reduce((a, b) => a * b, 1));
    this.layers = candidates
      .map((n, i) => ({ name: n.name, type: n.op, shape: [null, ...shapes[i].slice(1)] }))
      .filter((l) => l.shape.length === 4);
    this.defaultLayer = autoLayer(this.layers);
  }

  resolveLayer(name?: string): string {
    return resolveLayerName(this, name);
  }

  logits(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const y = this.model.execute({ [this.input]: x }, this.logitsNode) as tf.Tensor;
      return y.reshape([y.shape[0], -1]) as tf.Tensor2D;
    });
  }

  split(x: tf.Tensor4D, layer: string): SplitRun {
    const name = this.resolveLayer(layer);
    return {
      activation: this.model.execute({ [this.input]: x }, name) as tf.Tensor4D,
      head: (a, rows) => {
        // The input is fed too, for graphs whose head also reads tensors from before the layer.
        const xin = rows ? tf.gather(x, tf.tensor1d(rows, 'int32')) : x;
        const y = this.model.execute({ [this.input]: xin, [name]: a }, this.logitsNode) as tf.Tensor;
        return y.reshape([y.shape[0], -1]) as tf.Tensor2D;
      },
    };
  }

  dispose(): void {
    this.model.dispose();
  }
}

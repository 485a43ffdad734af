/**
 * What a detector graph needs from a TF.js GraphModel beyond a classifier: an NCHW input (transposed
 * once at the input), NCHW inner tensors (ONNX conversions: explained as NHWC grids), several outputs,
 * and running only the part after a layer, fed with the layer's activation and every tensor from
 * before the layer that the rest reads ("skip inputs", e.g. CenterNet's decoder reading
 * `c2_reverse`, `c3_reverse`, `c4_reverse` from the backbone).
 */
import * as tf from '@tensorflow/tfjs';

export interface GraphNode { name: string; op: string; input?: string[]; attr?: Record<string, unknown> }

export const nodeName = (input: string) => input.replace(/^\^/, '').replace(/:\d+$/, '');

/** Nodes in execution order that lead to `targets` (inclusive), stopping at `stops`. */
export function ancestors(byName: Map<string, GraphNode>, targets: string[], stops = new Set<string>()): GraphNode[] {
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
    if (stops.has(name)) continue;
    for (const i of [...(node.input ?? [])].reverse()) if (!seen.has(nodeName(i))) stack.push([nodeName(i), false]);
  }
  return order;
}

/**
 * The tensors the part of the graph after `layer` reads from before it: inputs (with their `:k`
 * output index) of nodes downstream of `layer` that are neither downstream themselves, nor `layer`,
 * nor constants. The input placeholder may be among them.
 */
export function skipInputs(nodes: GraphNode[], layer: string, outputs: string[]): string[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const needed = ancestors(byName, outputs);
  const down = new Set<string>([layer]);
  for (const n of needed) if ((n.input ?? []).some((i) => down.has(nodeName(i)))) down.add(n.name);
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
 * Per node, whether its 4-D tensor is NHWC or NCHW: the input's layout, flipped by every 4-D
 * Transpose whose permutation is NHWC↔NCHW, kept by every other op (TF ops are NHWC on NHWC inputs).
 */
export function nodeLayouts(nodes: GraphNode[], input: string, inputLayout: 'NHWC' | 'NCHW', weights: tf.NamedTensorMap | Record<string, tf.Tensor[]>):
  Map<string, 'NHWC' | 'NCHW'> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const out = new Map<string, 'NHWC' | 'NCHW'>();
  const permOf = (name: string): number[] | undefined => {
    const w = (weights as Record<string, tf.Tensor | tf.Tensor[]>)[nodeName(name)];
    const t = Array.isArray(w) ? w[0] : w;
    return t && t.size === 4 ? Array.from(t.dataSync()) : undefined;
  };
  for (const n of ancestors(byName, nodes.map((m) => m.name))) {
    if (n.name === input) { out.set(n.name, inputLayout); continue; }
    const first = n.input?.find((i) => byName.get(nodeName(i))?.op !== 'Const');
    const from = first ? out.get(nodeName(first)) ?? 'NHWC' : 'NHWC';
    if (n.op === 'Transpose' && n.input?.[1]) {
      const p = permOf(n.input[1])?.join(',');
      if (p === '0,2,3,1') { out.set(n.name, 'NHWC'); continue; }
      if (p === '0,3,1,2') { out.set(n.name, 'NCHW'); continue; }
    }
    out.set(n.name, from);
  }
  return out;
}

/** NCHW → NHWC. */
export const toNhwc = (t: tf.Tensor4D) => t.transpose([0, 2, 3, 1]) as tf.Tensor4D;
/** NHWC → NCHW. */
export const toNchw = (t: tf.Tensor4D) => t.transpose([0, 3, 1, 2]) as tf.Tensor4D;

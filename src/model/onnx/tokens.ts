/**
 * A transformer classifier reads one token at the end (`x[:, 0]`, the class token: a Gather on axis 1
 * with a constant scalar index), yet exports compute the last block's MLP, its residual and the final
 * norm for every token. Those ops act on each token alone, so the Gather can move up through them:
 * the imported head then runs them on one token instead of all of them (the MLP is most of a
 * block's work). The move stops at ops that mix tokens (attention's Reshape/Transpose/MatMul of two
 * runtime tensors) and at tensors something else also reads. Only the TF.js program is rewritten:
 * ONNX Runtime runs the model as exported, and the tensors the rewrite creates (their names contain
 * {@link TOKEN_MARK}) are made by the head, never fetched.
 */
import type { Program } from './graph.js';
import type { OnnxAttribute, OnnxModel, OnnxNode } from './proto.js';

/** Names of the tensors the rewrite creates (one token of another tensor) contain this. */
export const TOKEN_MARK = '::token';

/** Ops applied to each element alone (input 0 the tensor; any other input a constant). */
const UNARY = new Set(['Erf', 'Relu', 'Sigmoid', 'Tanh', 'Sqrt', 'Neg', 'Abs', 'Exp', 'Log', 'Identity', 'HardSigmoid',
  'HardSwish', 'Clip', 'LeakyRelu', 'Softplus', 'Gelu', 'Elu', 'Selu', 'Reciprocal', 'Cast']);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min']);

/**
 * The model with every class-token Gather moved up through the per-token ops before it, or undefined
 * when nothing moves. `program` (the model imported as it is) supplies shapes and constants.
 */
export function hoistTokenGathers(model: OnnxModel, program: Program): OnnxModel | undefined {
  const statics = program.statics;
  const isStatic = (name: string) => !name || statics.has(name);
  const shape = (name: string) => program.meta.get(name)?.shape;
  const graphOutputs = new Set(model.graph.outputs.map((o) => o.name));
  let nodes = [...model.graph.nodes];
  const isTokenGather = (n: OnnxNode) => n.opType === 'Gather' && (n.attrs.get('axis')?.i ?? 0) === 1 && isStatic(n.inputs[1])
    && statics.get(n.inputs[1])!.dims.length === 0 && (shape(n.inputs[0])?.length ?? 0) >= 3;
  let made = 0;
  let moved = 0;

  // Until nothing moves: a gather whose tensor has other readers may move once they have moved too.
  for (let again = true; again;) {
    again = false;
    for (const g of nodes.filter(isTokenGather)) {
      const x = g.inputs[0];
      const s = shape(x);
      const p = nodes.find((n) => n.outputs.includes(x));
      if (!s || !p || graphOutputs.has(x) || p.outputs.filter(Boolean).length !== 1) continue;
      const readers = nodes.filter((n) => n.inputs.includes(x));
      // Every reader must be a Gather of the same token (two readers of one tensor become one gather).
      if (readers.some((n) => !isTokenGather(n) || n.inputs[1] !== g.inputs[1] || (n !== g && graphOutputs.has(n.outputs[0])))) continue;
      const plan = perToken(p, s, isStatic, shape, (k) => statics.get(k)!.dims.length);
      if (!plan) continue;
      // The token of each per-token input: one new Gather each, right before the moved node.
      const gathers: OnnxNode[] = [];
      const inputs = p.inputs.map((k, j) => {
        if (!plan.gather.includes(j)) return k;
        const out = `${k}${TOKEN_MARK}${made++}`;
        gathers.push({ ...g, name: `${g.name}${TOKEN_MARK}${made}`, inputs: [k, g.inputs[1]], outputs: [out] });
        return out;
      });
      const movedNode: OnnxNode = { ...p, inputs, outputs: [g.outputs[0]], attrs: plan.attrs ?? p.attrs };
      // Readers of x (this gather and any duplicates) now read the moved node's output.
      const dupes = new Set(readers.filter((n) => n !== g));
      const rename = new Map([...dupes].map((n) => [n.outputs[0], g.outputs[0]]));
      nodes = nodes.flatMap((n) => {
        if (n === p) return [...gathers, movedNode];
        if (n === g || dupes.has(n)) return [];
        return rename.size && n.inputs.some((k) => rename.has(k)) ? [{ ...n, inputs: n.inputs.map((k) => rename.get(k) ?? k) }] : [n];
      });
      moved++;
      again = true;
      break;
    }
  }
  return moved ? { ...model, graph: { ...model.graph, nodes } } : undefined;
}

/**
 * Whether `p` (making the token tensor of shape `s`, tokens on axis 1) acts on each token alone:
 * the inputs to take the token of, and attributes to use once axis 1 is gone.
 */
function perToken(
  p: OnnxNode, s: (number | null)[], isStatic: (n: string) => boolean, shape: (n: string) => (number | null)[] | undefined,
  staticRank: (n: string) => number,
): { gather: number[]; attrs?: Map<string, OnnxAttribute> } | undefined {
  const r = s.length;
  // A constant operand must broadcast over the dimensions after the token axis only.
  const trailing = (k: string) => staticRank(k) <= r - 2;
  if (UNARY.has(p.opType)) {
    return !isStatic(p.inputs[0]) && p.inputs.slice(1).every(isStatic) ? { gather: [0] } : undefined;
  }
  if (p.opType === 'MatMul') {
    const [a, w] = p.inputs;
    return !isStatic(a) && isStatic(w) && staticRank(w) === 2 ? { gather: [0] } : undefined;
  }
  if (p.opType === 'LayerNormalization') {
    const axis = p.attrs.get('axis')?.i ?? -1;
    if ((axis < 0 ? axis + r : axis) < 2 || isStatic(p.inputs[0]) || !p.inputs.slice(1).every((k) => isStatic(k) && trailing(k))) return undefined;
    if (axis < 0) return { gather: [0] };
    const attrs = new Map(p.attrs);
    attrs.set('axis', { ...p.attrs.get('axis')!, i: axis - 1 });
    return { gather: [0], attrs };
  }
  if (BINARY.has(p.opType)) {
    const gather: number[] = [];
    for (const [j, k] of p.inputs.entries()) {
      if (isStatic(k)) {
        if (!trailing(k)) return undefined;
        continue;
      }
      const sk = shape(k);
      if (!sk || sk.length !== r || sk.some((d, i) => d !== s[i])) return undefined;
      gather.push(j);
    }
    return gather.length ? { gather } : undefined;
  }
  return undefined;
}

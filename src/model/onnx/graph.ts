/**
 * An ONNX graph imported as a TF.js program.
 *
 * Import traces the graph once on two blank batches (sizes 1 and 2) of the real input size: every
 * value computed only from constants and tensor shapes (torch exports compute paddings, reshape
 * targets and resize sizes with Shape/Gather/Concat… chains) is folded into a constant that is linear
 * in the batch size, so the program that remains holds only tensor ops, each compiled once with its
 * weights already in TF.js layout (see ops.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { GradcamError } from '../types.js';
import { OPS, TRACE_SHAPES, UnsupportedError, isStatic, logicalShape, staticTensor, toPlain, type Args, type InInfo, type Kernel, type Layout, type StaticVal, type Val } from './ops.js';
import type { OnnxModel, OnnxNode, OnnxTensor } from './proto.js';

export interface Step {
  node: OnnxNode;
  /** Input names ('' for an omitted optional input). */
  inputs: string[];
  outputs: string[];
  kernel: Kernel;
}

/** What is known about a runtime tensor. */
export interface ValueMeta {
  name: string;
  layout: Layout;
  /** Logical (ONNX) shape, batch-dependent dimensions null. */
  shape: (number | null)[];
  dtype: tf.DataType;
  /** Index of the step that produces it (-1: the graph input). */
  step: number;
  op: string;
}

export interface Program {
  steps: Step[];
  statics: Map<string, StaticVal>;
  meta: Map<string, ValueMeta>;
  /** The image input (fed NHWC). */
  input: string;
  /** Graph outputs (runtime tensors). */
  outputs: string[];
  opset: number;
  /** Constant tensors owned by the program (converted weights, cached statics). */
  owned: tf.Tensor[];
  staticCache: Map<string, tf.Tensor>;
}

export const SUPPORTED_OPSETS: [number, number] = [11, 20];

function staticOf(t: OnnxTensor): StaticVal {
  const dtype = t.kind === 'float' ? 'float32' : t.dataType === 9 ? 'bool' : 'int32';
  return { dims: t.dims, v1: t.data, v2: t.data, dtype };
}

function constantNode(n: OnnxNode): StaticVal {
  const a = [...n.attrs.values()][0];
  if (!a) throw new GradcamError(`Constant node '${n.name}' has no value`);
  switch (a.name) {
    case 'value': return staticOf(a.t!);
    case 'value_float': return { dims: [], v1: Float32Array.of(a.f ?? 0), v2: Float32Array.of(a.f ?? 0), dtype: 'float32' };
    case 'value_floats': { const v = Float32Array.from(a.floats ?? []); return { dims: [v.length], v1: v, v2: v, dtype: 'float32' }; }
    case 'value_int': return { dims: [], v1: [a.i ?? 0], v2: [a.i ?? 0], dtype: 'int32' };
    case 'value_ints': { const v = a.ints ?? []; return { dims: [v.length], v1: v, v2: v, dtype: 'int32' }; }
  }
  throw new GradcamError(`Constant node '${n.name}': attribute '${a.name}' is not supported`);
}

const sameValues = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** Static inputs as plain tensors at a batch size; batch-independent ones cached on the program. */
function staticInput(p: Pick<Program, 'staticCache' | 'owned' | 'statics'>, name: string, s: StaticVal, batch: number): tf.Tensor {
  if (s.v1 === s.v2) {
    let t = p.staticCache.get(name);
    if (!t) {
      t = tf.keep(staticTensor(s));
      p.staticCache.set(name, t);
      p.owned.push(t);
    }
    return t;
  }
  return staticTensor(s, batch);
}

function args(p: Pick<Program, 'staticCache' | 'owned' | 'statics'>, step: { inputs: string[]; node: OnnxNode }, env: Map<string, Val>, batch: number): Args {
  return {
    batch,
    has: (i) => !!step.inputs[i],
    v: (i) => {
      const name = step.inputs[i];
      const rt = env.get(name);
      if (rt) return rt;
      const s = p.statics.get(name);
      if (s) return { t: staticInput(p, name, s, batch), layout: 'plain' };
      throw new Error(`internal: tensor '${name}' (input ${i} of node '${step.node.name}') was not computed`);
    },
    ints: (i) => {
      const s = p.statics.get(step.inputs[i]);
      if (!s) throw new Error(`internal: input ${i} of node '${step.node.name}' is not constant`);
      return s.v1 === s.v2 ? Array.from(s.v1) : Array.from(s.v1, (v, k) => v + (s.v2[k] - v) * (batch - 1));
    },
  };
}

/**
 * Imports `model`'s graph. `inputShape` is [C, H, W] of the image input (its batch is dynamic).
 * Throws a {@link GradcamError} naming op, node and opset for anything unsupported.
 */
export function importGraph(model: OnnxModel, source: string): Program {
  const g = model.graph;
  if (model.opset < SUPPORTED_OPSETS[0] || model.opset > SUPPORTED_OPSETS[1]) {
    throw new GradcamError(`ONNX opset ${model.opset} is not supported (opsets ${SUPPORTED_OPSETS[0]}–${SUPPORTED_OPSETS[1]}; re-export with torch.onnx.export(..., opset_version=17))`, source);
  }
  const imageInputs = g.inputs.filter((i) => !g.initializers.has(i.name));
  if (imageInputs.length !== 1) {
    throw new GradcamError(`the model has ${imageInputs.length} inputs (${imageInputs.map((i) => i.name).join(', ')}); gradcam explains models with one image input`, source);
  }
  const inp = imageInputs[0];
  const ishape = inp.shape ?? [];
  if (ishape.length !== 4 || inp.elemType !== 1) {
    throw new GradcamError(`input '${inp.name}' is not a float NCHW image batch (shape [${ishape.join(', ')}])`, source);
  }
  const [c, h, w] = ishape.slice(1).map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? 3 : 224));

  const p: Program = { steps: [], statics: new Map(), meta: new Map(), input: inp.name, outputs: g.outputs.map((o) => o.name), opset: model.opset, owned: [], staticCache: new Map() };
  for (const [name, t] of g.initializers) p.statics.set(name, staticOf(t));

  // Trace values at batch 1 and 2; released after their last use.
  const env = [new Map<string, Val>(), new Map<string, Val>()];
  const lastUse = new Map<string, number>();
  g.nodes.forEach((n, i) => n.inputs.forEach((x) => x && lastUse.set(x, i)));
  for (const o of p.outputs) lastUse.set(o, Infinity);
  for (const [b, e] of env.entries()) {
    e.set(inp.name, { t: tf.randomUniform([b + 1, h, w, c], -1, 1, 'float32', 7), layout: 'nhwc' });
  }
  p.meta.set(inp.name, { name: inp.name, layout: 'nhwc', shape: [null, c, h, w], dtype: 'float32', step: -1, op: 'input' });

  const release = (i: number, names: string[]) => {
    for (const x of names) {
      if (lastUse.get(x) !== i) continue;
      for (const e of env) { e.get(x)?.t.dispose(); e.delete(x); }
    }
  };

  try {
    g.nodes.forEach((node, index) => {
      const where = `op '${node.opType}' (node '${node.name}', opset ${model.opset})`;
      if (node.domain && node.domain !== 'ai.onnx') throw new GradcamError(`unsupported ONNX ${where} in domain '${node.domain}'`, source);
      for (const x of node.inputs) {
        if (x && !p.statics.has(x) && !env[0].has(x)) throw new GradcamError(`${where} reads '${x}', which nothing computes (graph not in topological order?)`, source);
      }
      if (node.opType === 'Constant') {
        p.statics.set(node.outputs[0], constantNode(node));
        return;
      }
      const x0 = node.inputs[0];
      if (node.opType === 'Shape' || node.opType === 'Size') {
        const st = p.statics.get(x0);
        const [s1, s2] = st ? [st.dims, st.dims] : env.map((e) => logicalShape(e.get(x0)!));
        const r = s1.length;
        const norm = (v: number) => Math.max(0, Math.min(r, v < 0 ? v + r : v));
        const start = norm(node.attrs.get('start')?.i ?? 0), end = norm(node.attrs.get('end')?.i ?? r);
        const val = node.opType === 'Shape'
          ? [s1.slice(start, end), s2.slice(start, end)]
          : [[s1.reduce((a, b) => a * b, 1)], [s2.reduce((a, b) => a * b, 1)]];
        p.statics.set(node.outputs[0], {
          dims: node.opType === 'Shape' ? [val[0].length] : [], v1: val[0], v2: sameValues(val[0], val[1]) ? val[0] : val[1], dtype: 'int32',
        });
        release(index, node.inputs);
        return;
      }
      const compile = OPS[node.opType];
      if (!compile) throw new GradcamError(`unsupported ONNX ${where}`, source);
      const infos: (InInfo | undefined)[] = node.inputs.map((x) => {
        if (!x) return undefined;
        const s = p.statics.get(x);
        if (s) return { static: s, layout: 'plain', shape: s.dims };
        const v = env[0].get(x)!;
        return { layout: v.layout, shape: logicalShape(v) };
      });
      const kept: tf.Tensor[] = [];
      let kernel: Kernel;
      try {
        kernel = compile({ node, opset: model.opset, ins: infos, keep: (t) => { kept.push(tf.keep(t)); return t; } });
      } catch (e) {
        kept.forEach((t) => t.dispose());
        if (e instanceof UnsupportedError) throw new GradcamError(`ONNX ${where}: ${e.message}`, source);
        throw e;
      }
      const step: Step = { node, inputs: node.inputs, outputs: node.outputs, kernel };
      const allStatic = infos.every((i) => !i || isStatic(i));
      const traceShape = allStatic ? undefined : TRACE_SHAPES[node.opType];
      const outs = env.map((e, b) => {
        if (traceShape) {
          const shapes = node.inputs.map((x) => (env[b].has(x) ? logicalShape(env[b].get(x)!) : p.statics.get(x)?.dims ?? []));
          const known = traceShape({ node, opset: model.opset, ins: infos, keep: (t) => t }, shapes);
          if (known) {
            const [shape, layout] = known;
            return [{ t: tf.zeros(layout === 'nhwc' ? [shape[0], ...shape.slice(2), shape[1]] : shape), layout }];
          }
        }
        try {
          return tf.tidy(() => {
            const vals = kernel(args(p, step, e, b + 1));
            return vals.map((v) => ({ t: tf.keep(v.t), layout: v.layout }));
          });
        } catch (err) {
          kept.forEach((t) => t.dispose());
          throw new GradcamError(`ONNX ${where} failed on the traced shapes: ${(err as Error).message.split('\n')[0]}`, source);
        }
      });
      if (allStatic) {
        // Fold: read the values back; keep them only if the shape does not depend on the batch.
        const folded = outs[0].map((v, k) => {
          const [a, b] = [toPlain(v), toPlain(outs[1][k])];
          if (!sameValues(a.shape, b.shape)) { if (a !== v.t) a.dispose(); if (b !== outs[1][k].t) b.dispose(); return undefined; }
          const dtype = a.dtype === 'float32' ? 'float32' : a.dtype === 'bool' ? 'bool' : 'int32';
          const d1 = a.dataSync(), d2 = b.dataSync();
          const v1 = dtype === 'float32' ? Float32Array.from(d1) : Array.from(d1);
          const s: StaticVal = { dims: a.shape, v1, v2: sameValues(d1, d2) ? v1 : dtype === 'float32' ? Float32Array.from(d2) : Array.from(d2), dtype };
          if (a !== v.t) a.dispose();
          if (b !== outs[1][k].t) b.dispose();
          return s;
        });
        if (folded.every((s) => s)) {
          folded.forEach((s, k) => p.statics.set(node.outputs[k], s!));
          outs.flat().forEach((v) => v.t.dispose());
          kept.forEach((t) => t.dispose());
          release(index, node.inputs);
          return;
        }
      }
      p.owned.push(...kept);
      const stepIndex = p.steps.push(step) - 1;
      node.outputs.forEach((name, k) => {
        if (!name) { outs[0][k]?.t.dispose(); outs[1][k]?.t.dispose(); return; }
        const [v1, v2] = [outs[0][k], outs[1][k]];
        env[0].set(name, v1);
        env[1].set(name, v2);
        const s1 = logicalShape(v1), s2 = logicalShape(v2);
        p.meta.set(name, { name, layout: v1.layout, shape: s1.map((d, i) => (d === s2[i] ? d : null)), dtype: v1.t.dtype, step: stepIndex, op: node.opType });
        if (!lastUse.has(name)) { v1.t.dispose(); v2.t.dispose(); env[0].delete(name); env[1].delete(name); }
      });
      // Outputs of an op may be unused later; inputs released after their last use.
      release(index, node.inputs);
    });
  } catch (e) {
    disposeProgram(p);
    throw e;
  } finally {
    for (const e of env) for (const v of e.values()) v.t.dispose();
  }
  for (const o of p.outputs) {
    if (!p.meta.has(o)) throw new GradcamError(`output '${o}' is constant or not computed`, source);
  }
  return p;
}

export function disposeProgram(p: Program): void {
  p.owned.forEach((t) => t.dispose());
  p.owned.length = 0;
  p.staticCache.clear();
}

/** Steps needed to compute `wanted` from the tensors in `known` (and constants), in order. */
export function stepsFor(p: Program, wanted: string[], known: Set<string>): Step[] {
  const need = new Set(wanted.filter((k) => !known.has(k)));
  const picked: Step[] = [];
  for (let i = p.steps.length - 1; i >= 0; i--) {
    const s = p.steps[i];
    if (!s.outputs.some((k) => need.has(k))) continue;
    picked.push(s);
    for (const k of s.inputs) if (k && !known.has(k) && !p.statics.has(k)) need.add(k);
  }
  return picked.reverse();
}

/** Runtime tensors `steps` read but do not produce (their inputs from outside). */
export function externalInputs(p: Program, steps: Step[]): string[] {
  const produced = new Set(steps.flatMap((s) => s.outputs));
  const out = new Set<string>();
  for (const s of steps) for (const k of s.inputs) if (k && !produced.has(k) && !p.statics.has(k)) out.add(k);
  return [...out];
}

/**
 * Runs `steps` from `feeds` (stored layout) and returns `wanted`. Call inside tf.tidy (or tf.grad);
 * intermediates are disposed after their last use, feeds are never disposed.
 */
export function execute(p: Program, steps: Step[], feeds: Map<string, Val>, wanted: string[], batch: number): Val[] {
  const env = new Map(feeds);
  const last = new Map<string, number>();
  const produced = new Set(steps.flatMap((s) => s.outputs));
  steps.forEach((s, i) => s.inputs.forEach((k) => { if (produced.has(k) && !wanted.includes(k)) last.set(k, i); }));
  steps.forEach((s, i) => {
    const outs = s.kernel(args(p, s, env, batch));
    s.outputs.forEach((k, j) => { if (k && outs[j]) env.set(k, outs[j]); });
    for (const k of new Set(s.inputs)) {
      if (!k || last.get(k) !== i) continue;
      const v = env.get(k)!;
      env.delete(k);
      if (![...env.values()].some((o) => o.t === v.t)) v.t.dispose();
    }
  });
  return wanted.map((k) => {
    const v = env.get(k);
    if (!v) throw new Error(`internal: output '${k}' was not computed`);
    return v;
  });
}

/**
 * ONNX operators as TF.js kernels over tensors kept in one of two layouts:
 * - `nhwc`: a 4-D ONNX tensor [N, C, H, W] stored as [N, H, W, C] (what TF.js convolutions want);
 * - `plain`: stored exactly as ONNX sees it.
 * Images enter as NHWC and stay NHWC through convolutions, pooling, normalisation and element-wise
 * ops; weights are converted once when the kernel is compiled (at import), never per call. Only ops
 * that see the memory order (Reshape, Flatten, Transpose, MatMul…) bring a tensor back to `plain`.
 *
 * Kernels use only differentiable TF.js ops whose gradients exist on the wasm backend (no gather on
 * contiguous indices, no strided slices, no explicit conv padding in the backward pass).
 */
import * as tf from '@tensorflow/tfjs';
import type { OnnxAttribute, OnnxNode } from './proto.js';

export type Layout = 'nhwc' | 'plain';
export interface Val { t: tf.Tensor; layout: Layout }

/** A value known at import (initializers, constants, folded shape arithmetic); linear in the batch size. */
export interface StaticVal {
  dims: number[];
  /** Values at batch 1 and batch 2: the value at batch B is v1 + (v2 − v1)(B − 1). */
  v1: Float32Array | number[];
  v2: Float32Array | number[];
  dtype: 'float32' | 'int32' | 'bool';
}

/** What the importer knows about an input when compiling a kernel. */
export interface InInfo {
  static?: StaticVal;
  layout: Layout;
  /** Logical (ONNX) shape at batch 1. */
  shape: number[];
}

/** Runtime access to a kernel's inputs. */
export interface Args {
  /** Input i as a stored tensor (statics: a plain tensor). */
  v(i: number): Val;
  /** Integer values of a static input at the current batch. */
  ints(i: number): number[];
  has(i: number): boolean;
  batch: number;
}

export type Kernel = (a: Args) => Val[];

export interface CompileCtx {
  node: OnnxNode;
  opset: number;
  ins: (InInfo | undefined)[];
  /** Keeps a tensor prepared at import (converted weights) until the model is disposed. */
  keep<T extends tf.Tensor>(t: T): T;
}

export class UnsupportedError extends Error {}

// ---------------------------------------------------------------------------------------------
// helpers

const TO_NHWC = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];
/** Stored axis of logical axis `a` of an nhwc tensor. */
const NHWC_AXIS = [0, 3, 1, 2];

export const isStatic = (i: InInfo | undefined): i is InInfo & { static: StaticVal } => !!i?.static;

export function staticAt(s: StaticVal, batch: number): number[] {
  const out = new Array<number>(s.v1.length);
  for (let i = 0; i < out.length; i++) out[i] = s.v1[i] + (s.v2[i] - s.v1[i]) * (batch - 1);
  return out;
}

export function staticTensor(s: StaticVal, batch = 1): tf.Tensor {
  const v = batch === 1 ? s.v1 : staticAt(s, batch);
  if (s.dtype === 'float32') return tf.tensor(v instanceof Float32Array ? v : Float32Array.from(v), s.dims, 'float32');
  const clamped = Int32Array.from(v as ArrayLike<number>, (x) => Math.max(-2147483648, Math.min(2147483647, x)));
  return tf.tensor(clamped, s.dims, s.dtype === 'bool' ? 'bool' : 'int32');
}

/** Logical (ONNX) tensor of a stored value. */
export const toPlain = (v: Val): tf.Tensor => (v.layout === 'nhwc' ? tf.transpose(v.t, TO_NCHW) : v.t);
/** A 4-D value in nhwc storage. */
export const toNhwc = (v: Val): tf.Tensor4D => (v.layout === 'nhwc' ? v.t : tf.transpose(v.t, TO_NHWC)) as tf.Tensor4D;
export const logicalShape = (v: Val): number[] => (v.layout === 'nhwc' ? TO_NCHW.map((a) => v.t.shape[a]) : v.t.shape);

const plain = (t: tf.Tensor): Val => ({ t, layout: 'plain' });
const nhwc = (t: tf.Tensor): Val => ({ t, layout: 'nhwc' });
const normAxis = (a: number, rank: number) => (a < 0 ? a + rank : a);

function attr(ctx: CompileCtx, name: string): OnnxAttribute | undefined {
  return ctx.node.attrs.get(name);
}
const attrI = (ctx: CompileCtx, name: string, def: number) => attr(ctx, name)?.i ?? def;
const attrF = (ctx: CompileCtx, name: string, def: number) => attr(ctx, name)?.f ?? def;
const attrS = (ctx: CompileCtx, name: string, def: string) => attr(ctx, name)?.s ?? def;
const attrInts = (ctx: CompileCtx, name: string): number[] | undefined => attr(ctx, name)?.ints;

function needStatic(ctx: CompileCtx, i: number, what: string): StaticVal {
  const info = ctx.ins[i];
  if (!isStatic(info)) throw new UnsupportedError(`its ${what} (input ${i}) is computed at run time; only constant ${what}s are supported`);
  return info.static;
}

/** A static input prepared as a constant tensor once, or the runtime input. */
function constOrInput(ctx: CompileCtx, i: number, prepare: (t: tf.Tensor) => tf.Tensor = (t) => t): (a: Args) => tf.Tensor {
  const info = ctx.ins[i];
  if (isStatic(info) && info.static.v1 === info.static.v2) {
    const t = ctx.keep(tf.tidy(() => prepare(staticTensor(info.static))));
    return () => t;
  }
  return (a) => prepare(a.v(i).t);
}

/** Left-pads a logical shape with ones to `rank`. */
const padShape = (shape: number[], rank: number) => [...new Array(Math.max(0, rank - shape.length)).fill(1), ...shape];

// ---------------------------------------------------------------------------------------------
// matrix products with gradients that avoid transposed matMul (very slow on wasm)

/** `x @ w` for a constant `w` [K, N]; the input gradient uses `wᵀ` prepared once. */
function constMatMul(ctx: CompileCtx, w: tf.Tensor2D): (x: tf.Tensor) => tf.Tensor {
  const wt = ctx.keep(tf.transpose(w) as tf.Tensor2D);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x2 = args[0] as tf.Tensor;
    return { value: tf.matMul(x2 as tf.Tensor2D, w), gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, wt) };
  });
  return (x) => {
    const k = x.shape[x.shape.length - 1];
    if (x.rank === 2) return f(x);
    const y = f(x.reshape([-1, k]));
    return y.reshape([...x.shape.slice(0, -1), w.shape[1]]);
  };
}

/**
 * `a @ b` for 2-D or 3-D operands. On wasm a 3-D product with a batch above 1 takes a plain loop
 * (~10× slower than the XNNPACK 2-D product: 9.9 ms against ~1 ms for a ViT-Tiny attention product
 * [3, 197, 64] @ [3, 64, 197]), so it runs as one 2-D product per batch entry there.
 */
function product(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.rank === 2 || a.shape[0] === 1 || tf.getBackend() !== 'wasm') return tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D);
  const bs = tf.unstack(b);
  return tf.stack(tf.unstack(a).map((ai, i) => tf.matMul(ai as tf.Tensor2D, bs[i] as tf.Tensor2D)));
}

/** Batched `a @ b` of two runtime tensors, gradients with explicit transposes. */
const batchMatMul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: product(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved;
      const perm = (r: number) => [...Array(r - 2).keys(), r - 1, r - 2];
      return [product(dy, tf.transpose(sb, perm(sb.rank))), product(tf.transpose(sa, perm(sa.rank)), dy)];
    },
  };
});

function matMulRuntime(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.rank === 2 && b.rank === 2) return batchMatMul(a, b);
  // Broadcast batch dims, then run as 3-D.
  const ra = Math.max(a.rank, b.rank);
  const sa = padShape(a.shape, ra), sb = padShape(b.shape, ra);
  const batch = sa.slice(0, -2).map((d, i) => Math.max(d, sb[i]));
  const ea = tf.broadcastTo(a.reshape(sa), [...batch, ...sa.slice(-2)]);
  const eb = tf.broadcastTo(b.reshape(sb), [...batch, ...sb.slice(-2)]);
  const nb = batch.reduce((x, y) => x * y, 1);
  const y = batchMatMul(ea.reshape([nb, ...sa.slice(-2)]), eb.reshape([nb, ...sb.slice(-2)]));
  return y.reshape([...batch, sa[ra - 2], sb[ra - 1]]);
}

// ---------------------------------------------------------------------------------------------
// element-wise

function unary(fn: (x: tf.Tensor) => tf.Tensor): (ctx: CompileCtx) => Kernel {
  return () => (a) => {
    const v = a.v(0);
    return [{ t: fn(v.t), layout: v.layout }];
  };
}

/** Element-wise op with numpy broadcasting across layouts: with any nhwc input, the others are brought to nhwc. */
function broadcastOp(fn: (xs: tf.Tensor[]) => tf.Tensor, arity?: number): (ctx: CompileCtx) => Kernel {
  return (ctx) => {
    const n = arity ?? ctx.ins.length;
    const ins = ctx.ins.slice(0, n);
    const anyNhwc = ins.some((i) => i?.layout === 'nhwc' && !i.static);
    const toNhwcRank4 = (t: tf.Tensor) => tf.transpose(t.reshape(padShape(t.shape, 4)), TO_NHWC);
    const prep = ins.map((info, i): ((a: Args) => tf.Tensor) => {
      if (!anyNhwc) return constOrInput(ctx, i);
      if (info?.static) return constOrInput(ctx, i, toNhwcRank4); // converted once at import
      if (info?.layout === 'nhwc') return (a) => a.v(i).t;
      return (a) => toNhwcRank4(a.v(i).t);
    });
    return (a) => [{ t: fn(prep.map((p) => p(a))), layout: anyNhwc ? 'nhwc' : 'plain' }];
  };
}

const hardSigmoid = (x: tf.Tensor, alpha: number, beta: number) => tf.clipByValue(tf.add(tf.mul(x, alpha), beta), 0, 1);

function clip(ctx: CompileCtx): Kernel {
  let lo = -Infinity, hi = Infinity;
  if (ctx.opset < 11) {
    lo = attrF(ctx, 'min', -Infinity); hi = attrF(ctx, 'max', Infinity);
  } else {
    if (ctx.ins[1]) lo = needStatic(ctx, 1, 'bound').v1[0];
    if (ctx.ins[2]) hi = needStatic(ctx, 2, 'bound').v1[0];
  }
  const f = lo === 0 && hi === 6 ? (x: tf.Tensor) => tf.relu6(x)
    : lo === 0 && hi === Infinity ? (x: tf.Tensor) => tf.relu(x)
      : (x: tf.Tensor) => tf.clipByValue(x, Math.max(lo, -3.4e38), Math.min(hi, 3.4e38));
  return unary(f)(ctx);
}

function cast(ctx: CompileCtx): Kernel {
  const to = attrI(ctx, 'to', 1);
  const dtype: tf.DataType = to === 1 || to === 10 || to === 11 || to === 16 ? 'float32' : to === 9 ? 'bool' : 'int32';
  return unary((x) => (x.dtype === dtype ? x.clone() : tf.cast(x, dtype)))(ctx);
}

// ---------------------------------------------------------------------------------------------
// convolution and pooling

/** [top, left, bottom, right] padding of a 2-D window op, from pads or auto_pad. */
function windowPads(ctx: CompileCtx, inHW: number[], kernel: number[], strides: number[], dil: number[], ceil: boolean): { pads: number[]; extra: number[]; out: number[] } {
  const auto = attrS(ctx, 'auto_pad', 'NOTSET');
  let pads = attrInts(ctx, 'pads') ?? [0, 0, 0, 0];
  const ek = kernel.map((k, i) => (k - 1) * dil[i] + 1);
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const total = inHW.map((h, i) => Math.max(0, (Math.ceil(h / strides[i]) - 1) * strides[i] + ek[i] - h));
    const small = total.map((t) => Math.floor(t / 2));
    const big = total.map((t, i) => t - small[i]);
    pads = auto === 'SAME_UPPER' ? [...small, ...big] : [...big, ...small];
  } else if (auto === 'VALID') pads = [0, 0, 0, 0];
  // Output size (torch/ONNX rule for ceil_mode: the last window must start inside the padded input's left part).
  const out = inHW.map((h, i) => {
    const span = h + pads[i] + pads[i + 2] - ek[i];
    let o = (ceil ? Math.ceil(span / strides[i]) : Math.floor(span / strides[i])) + 1;
    if (ceil && (o - 1) * strides[i] >= h + pads[i]) o--;
    return o;
  });
  const extra = inHW.map((h, i) => Math.max(0, (out[i] - 1) * strides[i] + ek[i] - (h + pads[i] + pads[i + 2])));
  return { pads, extra, out };
}

function conv(ctx: CompileCtx): Kernel {
  const x = ctx.ins[0]!;
  if (x.shape.length !== 4) throw new UnsupportedError(`only 2-D convolutions (4-D input) are supported, got rank ${x.shape.length}`);
  const w = needStatic(ctx, 1, 'weight');
  const [o, ipg, kh, kw] = w.dims;
  const group = attrI(ctx, 'group', 1);
  const strides = attrInts(ctx, 'strides') ?? [1, 1];
  const dil = attrInts(ctx, 'dilations') ?? [1, 1];
  const cin = x.shape[1];
  const { pads } = windowPads(ctx, x.shape.slice(2), [kh, kw], strides, dil, false);
  const [pt, pl, pb, pr] = pads;
  const symmetric = pt === pb && pl === pr && pt === pl;
  const pad: 'valid' | number = symmetric && pt > 0 ? pt : 'valid';
  const prePad = !symmetric ? [[0, 0], [pt, pb], [pl, pr], [0, 0]] as [number, number][] : undefined;
  const bias = ctx.ins[2] ? ctx.keep(staticTensor(needStatic(ctx, 2, 'bias'))) : undefined;
  const dl = dil as [number, number];
  const st = strides as [number, number];
  let run: (x: tf.Tensor4D) => tf.Tensor4D;
  if (group === 1) {
    const k = ctx.keep(tf.tidy(() => tf.transpose(staticTensor(w), [2, 3, 1, 0])) as tf.Tensor4D);
    run = (t) => tf.conv2d(t, k, st, pad, 'NHWC', dl);
  } else if (group === cin && ipg === 1) {
    const mult = o / cin;
    const k = ctx.keep(tf.tidy(() => tf.transpose(staticTensor(w).reshape([cin, mult, kh, kw]), [2, 3, 0, 1])) as tf.Tensor4D);
    run = (t) => tf.depthwiseConv2d(t, k, st, pad, 'NHWC', dl);
  } else {
    const og = o / group;
    const ks = tf.tidy(() => tf.split(tf.transpose(staticTensor(w), [2, 3, 1, 0]), group, 3)).map((k) => ctx.keep(k as tf.Tensor4D));
    run = (t) => tf.concat(tf.split(t, group, 3).map((p, g) => tf.conv2d(p as tf.Tensor4D, ks[g], st, pad, 'NHWC', dl)), 3) as tf.Tensor4D;
    void og;
  }
  return (a) => {
    let t = toNhwc(a.v(0));
    if (prePad) t = tf.pad(t, prePad);
    let y: tf.Tensor = run(t);
    if (bias) y = tf.add(y, bias);
    return [nhwc(y)];
  };
}

function pool(kind: 'max' | 'avg'): (ctx: CompileCtx) => Kernel {
  return (ctx) => {
    const x = ctx.ins[0]!;
    if (x.shape.length !== 4) throw new UnsupportedError(`only 2-D pooling (4-D input) is supported`);
    const kernel = attrInts(ctx, 'kernel_shape')!;
    const strides = attrInts(ctx, 'strides') ?? [1, 1];
    const dil = attrInts(ctx, 'dilations') ?? [1, 1];
    if (dil.some((d) => d !== 1)) throw new UnsupportedError('dilated pooling is not supported');
    const ceil = attrI(ctx, 'ceil_mode', 0) === 1;
    const includePad = attrI(ctx, 'count_include_pad', 0) === 1;
    const [h, w] = x.shape.slice(2);
    const { pads, extra } = windowPads(ctx, [h, w], kernel, strides, [1, 1], ceil);
    const padSpec: [number, number][] = [[0, 0], [pads[0], pads[2] + extra[0]], [pads[1], pads[3] + extra[1]], [0, 0]];
    const anyPad = padSpec.some(([p, q]) => p || q);
    const k = kernel as [number, number], s = strides as [number, number];
    let divisor: tf.Tensor | undefined;
    if (kind === 'avg' && anyPad) {
      // Average over the counted cells only: those of the input (and of explicit pads with count_include_pad).
      divisor = ctx.keep(tf.tidy(() => {
        let m = tf.ones([1, h, w, 1]);
        if (includePad) m = tf.pad(m, [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]], 1);
        m = tf.pad(m, includePad ? [[0, 0], [0, extra[0]], [0, extra[1]], [0, 0]] : padSpec);
        return tf.avgPool(m as tf.Tensor4D, k, s, 'valid');
      }));
    }
    return (a) => {
      let t = toNhwc(a.v(0));
      if (kind === 'max') {
        if (anyPad) t = tf.pad(t, padSpec, -3.4e38);
        return [nhwc(tf.maxPool(t, k, s, 'valid'))];
      }
      if (!anyPad) return [nhwc(tf.avgPool(t, k, s, 'valid'))];
      return [nhwc(tf.div(tf.avgPool(tf.pad(t, padSpec), k, s, 'valid'), divisor!))];
    };
  };
}

function globalPool(kind: 'max' | 'avg'): (ctx: CompileCtx) => Kernel {
  return (ctx) => {
    const r = ctx.ins[0]!.shape.length;
    return (a) => {
      const v = a.v(0);
      if (r === 4) {
        const t = toNhwc(v);
        return [nhwc(kind === 'avg' ? tf.mean(t, [1, 2], true) : tf.max(t, [1, 2], true))];
      }
      const axes = [...Array(r - 2).keys()].map((i) => i + 2);
      return [plain(kind === 'avg' ? tf.mean(v.t, axes, true) : tf.max(v.t, axes, true))];
    };
  };
}

function batchNorm(ctx: CompileCtx): Kernel {
  const eps = attrF(ctx, 'epsilon', 1e-5);
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => needStatic(ctx, i, 'statistic'));
  const c = scale.dims[0];
  const s = new Float32Array(c), b = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    s[i] = scale.v1[i] / Math.sqrt(variance.v1[i] + eps);
    b[i] = bias.v1[i] - mean.v1[i] * s[i];
  }
  const r = ctx.ins[0]!.shape.length;
  const shape = r === 4 || r === 2 ? [c] : [c, ...new Array(r - 2).fill(1)];
  const st = ctx.keep(tf.tensor(s, shape)), bt = ctx.keep(tf.tensor(b, shape));
  return (a) => {
    const v = a.v(0);
    const t = r === 4 ? toNhwc(v) : v.t;
    return [{ t: tf.add(tf.mul(t, st), bt), layout: r === 4 ? 'nhwc' : 'plain' }];
  };
}

function layerNorm(ctx: CompileCtx): Kernel {
  const r = ctx.ins[0]!.shape.length;
  const axis = normAxis(attrI(ctx, 'axis', -1), r);
  const eps = attrF(ctx, 'epsilon', 1e-5);
  const axes = [...Array(r - axis).keys()].map((i) => i + axis);
  const scale = ctx.ins[1] ? constOrInput(ctx, 1) : undefined;
  const bias = ctx.ins[2] ? constOrInput(ctx, 2) : undefined;
  return (a) => {
    const x = toPlain(a.v(0));
    const d = tf.sub(x, tf.mean(x, axes, true));
    let y = tf.mul(d, tf.rsqrt(tf.add(tf.mean(tf.square(d), axes, true), eps)));
    if (scale) y = tf.mul(y, scale(a));
    if (bias) y = tf.add(y, bias(a));
    return [plain(y)];
  };
}

function instanceNorm(ctx: CompileCtx): Kernel {
  const eps = attrF(ctx, 'epsilon', 1e-5);
  const scale = ctx.keep(staticTensor(needStatic(ctx, 1, 'scale')));
  const bias = ctx.keep(staticTensor(needStatic(ctx, 2, 'bias')));
  if (ctx.ins[0]!.shape.length !== 4) throw new UnsupportedError('only 4-D inputs are supported');
  return (a) => {
    const x = toNhwc(a.v(0));
    const { mean, variance } = tf.moments(x, [1, 2], true);
    return [nhwc(tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), scale), bias))];
  };
}

// ---------------------------------------------------------------------------------------------
// dense

function gemm(ctx: CompileCtx): Kernel {
  const alpha = attrF(ctx, 'alpha', 1), beta = attrF(ctx, 'beta', 1);
  const transA = attrI(ctx, 'transA', 0) === 1, transB = attrI(ctx, 'transB', 0) === 1;
  const c = ctx.ins[2] ? constOrInput(ctx, 2, (t) => tf.mul(t, beta)) : undefined;
  if (isStatic(ctx.ins[1])) {
    const w = ctx.keep(tf.tidy(() => {
      let t = staticTensor(ctx.ins[1]!.static!) as tf.Tensor2D;
      if (transB) t = tf.transpose(t);
      return alpha === 1 ? t : tf.mul(t, alpha);
    }) as tf.Tensor2D);
    const mm = constMatMul(ctx, w);
    return (a) => {
      let x = toPlain(a.v(0));
      if (transA) x = tf.transpose(x);
      let y = mm(x);
      if (c) y = tf.add(y, c(a));
      return [plain(y)];
    };
  }
  return (a) => {
    let x = toPlain(a.v(0)), w = toPlain(a.v(1));
    if (transA) x = tf.transpose(x);
    if (transB) w = tf.transpose(w);
    let y = tf.mul(matMulRuntime(x, w), alpha);
    if (c) y = tf.add(y, c(a));
    return [plain(y)];
  };
}

function matMul(ctx: CompileCtx): Kernel {
  const b = ctx.ins[1]!;
  if (isStatic(b) && b.static.dims.length === 2 && b.static.v1 === b.static.v2) {
    const mm = constMatMul(ctx, ctx.keep(staticTensor(b.static) as tf.Tensor2D));
    return (a) => [plain(mm(toPlain(a.v(0))))];
  }
  const fa = constOrInput(ctx, 0), fb = constOrInput(ctx, 1);
  return (a) => {
    const x = ctx.ins[0]!.static ? fa(a) : toPlain(a.v(0));
    const y = ctx.ins[1]!.static ? fb(a) : toPlain(a.v(1));
    return [plain(matMulRuntime(x, y))];
  };
}

// ---------------------------------------------------------------------------------------------
// shape manipulation (runtime tensors; shape inputs are static)

function reshape(ctx: CompileCtx): Kernel {
  const s = needStatic(ctx, 1, 'shape');
  const allowZero = attrI(ctx, 'allowzero', 0) === 1;
  return (a) => {
    const x = toPlain(a.v(0));
    const target = staticAt(s, a.batch).map((d, i) => (d === 0 && !allowZero ? x.shape[i] : d));
    return [plain(x.reshape(target))];
  };
}

function flatten(ctx: CompileCtx): Kernel {
  const r = ctx.ins[0]!.shape.length;
  const axis = normAxis(attrI(ctx, 'axis', 1), r);
  return (a) => {
    const x = toPlain(a.v(0));
    const outer = x.shape.slice(0, axis).reduce((p, q) => p * q, 1);
    return [plain(x.reshape([outer, -1]))];
  };
}

function axesOf(ctx: CompileCtx, inputIndex: number, sinceOpset: number): number[] | undefined {
  if (ctx.opset >= sinceOpset && ctx.ins[inputIndex]) return Array.from(needStatic(ctx, inputIndex, 'axes').v1);
  return attrInts(ctx, 'axes');
}

function squeeze(ctx: CompileCtx): Kernel {
  const r = ctx.ins[0]!.shape.length;
  const axes = axesOf(ctx, 1, 13)?.map((x) => normAxis(x, r));
  return (a) => {
    const x = toPlain(a.v(0));
    const keep = x.shape.filter((d, i) => (axes ? !axes.includes(i) : d !== 1));
    return [plain(x.reshape(keep))];
  };
}

function unsqueeze(ctx: CompileCtx): Kernel {
  const r = ctx.ins[0]!.shape.length;
  const raw = axesOf(ctx, 1, 13) ?? [];
  const axes = raw.map((x) => normAxis(x, r + raw.length)).sort((p, q) => p - q);
  return (a) => {
    const x = toPlain(a.v(0));
    const shape = [...x.shape];
    for (const ax of axes) shape.splice(ax, 0, 1);
    return [plain(x.reshape(shape))];
  };
}

function transpose(ctx: CompileCtx): Kernel {
  const r = ctx.ins[0]!.shape.length;
  const perm = attrInts(ctx, 'perm') ?? [...Array(r).keys()].reverse();
  return (a) => {
    const v = a.v(0);
    // Compose with the storage permutation: one transpose.
    const p = v.layout === 'nhwc' ? perm.map((i) => TO_NCHW[i]) : perm;
    return [plain(tf.transpose(v.t, p))];
  };
}

function concat(ctx: CompileCtx): Kernel {
  const r = ctx.ins[0]!.shape.length;
  const axis = normAxis(attrI(ctx, 'axis', 0), r);
  const anyNhwc = ctx.ins.some((i) => i?.layout === 'nhwc' && !i.static);
  const prep = ctx.ins.map((info, i) => (anyNhwc && info?.static ? constOrInput(ctx, i, (t) => tf.transpose(t, TO_NHWC)) : undefined));
  return (a) => {
    const xs = ctx.ins.map((info, i) => {
      if (prep[i]) return prep[i]!(a);
      const v = a.v(i);
      return anyNhwc ? toNhwc(v) : toPlain(v);
    }).filter((t) => t.size > 0 || ctx.ins.length === 1);
    return [{ t: tf.concat(xs, anyNhwc ? NHWC_AXIS[axis] : axis), layout: anyNhwc ? 'nhwc' : 'plain' }];
  };
}

function split(ctx: CompileCtx): Kernel {
  const r = ctx.ins[0]!.shape.length;
  const axis = normAxis(attrI(ctx, 'axis', 0), r);
  const dim = ctx.ins[0]!.shape[axis];
  const n = ctx.node.outputs.length;
  let sizes: number[] | undefined = ctx.opset >= 13 && ctx.ins[1] ? Array.from(needStatic(ctx, 1, 'split').v1) : attrInts(ctx, 'split');
  if (!sizes) {
    const each = Math.ceil(dim / n);
    sizes = Array.from({ length: n }, (_, i) => Math.min(each, dim - each * i));
  }
  const s = sizes;
  return (a) => {
    const v = a.v(0);
    const ax = v.layout === 'nhwc' ? NHWC_AXIS[axis] : axis;
    return tf.split(v.t, s, ax).map((t) => ({ t, layout: v.layout }));
  };
}

/** Slice with static starts/ends; unit steps use tf.slice (its gradient works everywhere). */
function slice(ctx: CompileCtx): Kernel {
  const r = ctx.ins[0]!.shape.length;
  const fromInputs = ctx.opset >= 10;
  const starts = fromInputs ? needStatic(ctx, 1, 'starts') : undefined;
  const ends = fromInputs ? needStatic(ctx, 2, 'ends') : undefined;
  const axesS = fromInputs && ctx.ins[3] ? needStatic(ctx, 3, 'axes') : undefined;
  const stepsS = fromInputs && ctx.ins[4] ? needStatic(ctx, 4, 'steps') : undefined;
  return (a) => {
    const v = a.v(0);
    const shape = logicalShape(v);
    const st = starts ? staticAt(starts, a.batch) : attrInts(ctx, 'starts')!;
    const en = ends ? staticAt(ends, a.batch) : attrInts(ctx, 'ends')!;
    const ax = (axesS ? staticAt(axesS, a.batch) : attrInts(ctx, 'axes') ?? st.map((_, i) => i)).map((x) => normAxis(x, r));
    const sp = stepsS ? staticAt(stepsS, a.batch) : st.map(() => 1);
    const begin = new Array(r).fill(0), end = [...shape], step = new Array(r).fill(1);
    ax.forEach((axis, i) => {
      const d = shape[axis];
      const clampS = (x: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, x < 0 ? x + d : x));
      if (sp[i] > 0) { begin[axis] = clampS(st[i], 0, d); end[axis] = clampS(en[i], 0, d); } else { begin[axis] = clampS(st[i], -1, d - 1); end[axis] = clampS(en[i], -1, d - 1); }
      step[axis] = sp[i];
    });
    const map = (arr: number[]) => (v.layout === 'nhwc' ? TO_NHWC.map((i) => arr[i]) : arr);
    if (step.every((s) => s === 1)) {
      const size = end.map((e, i) => Math.max(0, e - begin[i]));
      return [{ t: tf.slice(v.t, map(begin), map(size)), layout: v.layout }];
    }
    // Other steps (e.g. -1 to reverse): a gather of the explicit indices along each such axis.
    let t = v.t;
    for (let axis = 0; axis < r; axis++) {
      const ids: number[] = [];
      for (let i = begin[axis]; step[axis] > 0 ? i < end[axis] : i > end[axis]; i += step[axis]) ids.push(i);
      if (step[axis] === 1 && ids.length === shape[axis]) continue;
      t = tf.gather(t, tf.tensor1d(ids, 'int32'), v.layout === 'nhwc' ? NHWC_AXIS[axis] : axis);
    }
    return [{ t, layout: v.layout }];
  };
}

function gather(ctx: CompileCtx): Kernel {
  const r = ctx.ins[0]!.shape.length;
  const axis = normAxis(attrI(ctx, 'axis', 0), r);
  const idx = ctx.ins[1]!;
  return (a) => {
    const x = toPlain(a.v(0));
    const d = x.shape[axis];
    if (isStatic(idx)) {
      const ids = staticAt(idx.static, a.batch).map((i) => (i < 0 ? i + d : i));
      const contiguous = ids.every((v, i) => v === ids[0] + i);
      if (contiguous && ids.length > 0) {
        // A slice: its gradient is a pad (wasm has no UnsortedSegmentSum for gather's).
        const begin = x.shape.map((_, i) => (i === axis ? ids[0] : 0));
        const size = x.shape.map((s, i) => (i === axis ? ids.length : s));
        const y = tf.slice(x, begin, size);
        const outShape = [...x.shape.slice(0, axis), ...idx.static.dims, ...x.shape.slice(axis + 1)];
        return [plain(y.reshape(outShape))];
      }
      return [plain(tf.gather(x, tf.tensor(ids, idx.static.dims, 'int32'), axis))];
    }
    const i = a.v(1).t;
    const fixed = tf.where(tf.less(i, 0), tf.add(i, d), i);
    return [plain(tf.gather(x, tf.cast(fixed, 'int32'), axis))];
  };
}

function reduce(kind: 'mean' | 'sum' | 'max' | 'min' | 'prod' | 'l2' | 'sumsq'): (ctx: CompileCtx) => Kernel {
  return (ctx) => {
    const r = ctx.ins[0]!.shape.length;
    const since = kind === 'sum' ? 13 : 18;
    const raw = axesOf(ctx, 1, since);
    const noopEmpty = attrI(ctx, 'noop_with_empty_axes', 0) === 1;
    const axes = raw?.length ? raw.map((x) => normAxis(x, r)) : noopEmpty ? [] : [...Array(r).keys()];
    const keep = attrI(ctx, 'keepdims', 1) === 1;
    const f = (t: tf.Tensor, ax: number[]) => {
      if (!ax.length) return t;
      switch (kind) {
        case 'mean': return tf.mean(t, ax, keep);
        case 'sum': return tf.sum(t, ax, keep);
        case 'max': return tf.max(t, ax, keep);
        case 'min': return tf.min(t, ax, keep);
        case 'prod': return tf.prod(t, ax, keep);
        case 'l2': return tf.sqrt(tf.sum(tf.square(t), ax, keep));
        case 'sumsq': return tf.sum(tf.square(t), ax, keep);
      }
    };
    return (a) => {
      const v = a.v(0);
      if (v.layout === 'nhwc') {
        const stored = axes.map((x) => NHWC_AXIS[x]);
        if (keep) return [nhwc(f(v.t, stored))];
        // Without keepdims the remaining axes must be in logical order in storage.
        const rest = TO_NHWC.filter((l) => !axes.includes(l));
        if (rest.every((l, i) => i === 0 || rest[i - 1] < l)) return [plain(f(v.t, stored))];
      }
      return [plain(f(toPlain(v), axes))];
    };
  };
}

function softmax(kind: 'softmax' | 'logSoftmax'): (ctx: CompileCtx) => Kernel {
  return (ctx) => {
    const r = ctx.ins[0]!.shape.length;
    const axis = normAxis(attrI(ctx, 'axis', ctx.opset >= 13 ? -1 : 1), r);
    const fn = kind === 'softmax' ? tf.softmax : tf.logSoftmax;
    return (a) => {
      const v = a.v(0);
      if (ctx.opset < 13 && axis !== r - 1) {
        // Old semantics: flattened to 2-D at `axis`.
        const x = toPlain(v);
        return [plain(fn(x.reshape([x.shape.slice(0, axis).reduce((p, q) => p * q, 1), -1])).reshape(x.shape))];
      }
      if (v.layout === 'nhwc' && NHWC_AXIS[axis] === 3) return [nhwc(fn(v.t))];
      const x = toPlain(v);
      if (axis === r - 1) return [plain(fn(x))];
      const perm = [...Array(r).keys()].filter((i) => i !== axis).concat(axis);
      const inv = perm.map((_, i) => perm.indexOf(i));
      return [plain(tf.transpose(fn(tf.transpose(x, perm)), inv))];
    };
  };
}

function pad(ctx: CompileCtx): Kernel {
  const r = ctx.ins[0]!.shape.length;
  const mode = attrS(ctx, 'mode', 'constant');
  const pads = ctx.opset >= 11 ? needStatic(ctx, 1, 'pads') : undefined;
  const value = ctx.opset >= 11 && ctx.ins[2] ? needStatic(ctx, 2, 'value').v1[0] : attrF(ctx, 'value', 0);
  const axesS = ctx.opset >= 18 && ctx.ins[3] ? needStatic(ctx, 3, 'axes').v1.map((x) => normAxis(x, r)) : undefined;
  if (mode === 'edge') throw new UnsupportedError(`mode 'edge' is not supported`);
  return (a) => {
    const v = a.v(0);
    const p = pads ? staticAt(pads, a.batch) : attrInts(ctx, 'pads')!;
    const axes = axesS ?? [...Array(r).keys()];
    const spec: [number, number][] = Array.from({ length: r }, () => [0, 0]);
    axes.forEach((ax, i) => { spec[ax] = [p[i], p[i + axes.length]]; });
    const stored = v.layout === 'nhwc' ? TO_NHWC.map((i) => spec[i]) : spec;
    if (stored.some(([b, e]) => b < 0 || e < 0)) throw new Error('negative pads are not supported');
    const t = mode === 'reflect' ? tf.mirrorPad(v.t, stored, 'reflect') : tf.pad(v.t, stored, value);
    return [{ t, layout: v.layout }];
  };
}

function resize(ctx: CompileCtx): Kernel {
  const x = ctx.ins[0]!;
  if (x.shape.length !== 4) throw new UnsupportedError('only 4-D inputs are supported');
  const mode = attrS(ctx, 'mode', 'nearest');
  const ct = attrS(ctx, 'coordinate_transformation_mode', 'half_pixel');
  const sizesIdx = ctx.opset >= 11 ? 3 : -1;
  const scalesIdx = ctx.opset >= 11 ? 2 : 1;
  const sizes = sizesIdx > 0 && ctx.ins[sizesIdx] && (ctx.ins[sizesIdx]!.static?.dims[0] ?? 0) > 0 ? needStatic(ctx, sizesIdx, 'sizes') : undefined;
  const scales = !sizes && ctx.ins[scalesIdx] ? needStatic(ctx, scalesIdx, 'scales') : undefined;
  if (!sizes && !scales) throw new UnsupportedError('neither sizes nor scales given');
  if (mode === 'cubic') throw new UnsupportedError(`mode 'cubic' is not supported`);
  if (!['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric'].includes(ct)) {
    throw new UnsupportedError(`coordinate_transformation_mode '${ct}' is not supported`);
  }
  const align = ct === 'align_corners';
  const half = ct === 'half_pixel' || ct === 'pytorch_half_pixel';
  return (a) => {
    const t = toNhwc(a.v(0));
    const [, h, w] = t.shape;
    const size: [number, number] = sizes
      ? [staticAt(sizes, a.batch)[2], staticAt(sizes, a.batch)[3]]
      : [Math.floor(h * scales!.v1[2]), Math.floor(w * scales!.v1[3])];
    const y = mode === 'linear' ? tf.image.resizeBilinear(t, size, align, half) : tf.image.resizeNearestNeighbor(t, size, align, half);
    return [nhwc(y)];
  };
}

function expand(ctx: CompileCtx): Kernel {
  const s = needStatic(ctx, 1, 'shape');
  const fx = constOrInput(ctx, 0);
  return (a) => {
    const x = ctx.ins[0]!.static ? fx(a) : toPlain(a.v(0));
    const target = staticAt(s, a.batch);
    const rank = Math.max(target.length, x.rank);
    const xs = padShape(x.shape, rank), ts = padShape(target, rank);
    const out = xs.map((d, i) => (d === 1 ? ts[i] : d));
    return [plain(tf.broadcastTo(x.reshape(xs), out))];
  };
}

function tile(ctx: CompileCtx): Kernel {
  const reps = needStatic(ctx, 1, 'repeats');
  return (a) => [plain(tf.tile(toPlain(a.v(0)), staticAt(reps, a.batch)))];
}

function constantOfShape(ctx: CompileCtx): Kernel {
  const s = needStatic(ctx, 0, 'shape');
  const v = attr(ctx, 'value')?.t;
  const value = v ? Number(v.data[0]) : 0;
  const dtype = v?.kind === 'int' ? 'int32' : 'float32';
  return (a) => [plain(tf.fill(staticAt(s, a.batch), value, dtype))];
}

function where(): Kernel {
  return (a) => {
    const [c, x, y] = [0, 1, 2].map((i) => toPlain(a.v(i)));
    const shape = tf.broadcast_util.assertAndGetBroadcastShape(tf.broadcast_util.assertAndGetBroadcastShape(c.shape, x.shape), y.shape);
    return [plain(tf.where(tf.broadcastTo(tf.cast(c, 'bool'), shape), tf.broadcastTo(x, shape), tf.broadcastTo(y, shape)))];
  };
}

function range(): Kernel {
  return (a) => {
    const [s, l, d] = [0, 1, 2].map((i) => a.ints(i)[0]);
    return [plain(tf.range(s, l, d, a.v(0).t.dtype === 'float32' ? 'float32' : 'int32'))];
  };
}

function dropout(): Kernel {
  return (a) => {
    const v = a.v(0);
    return [{ t: v.t.clone(), layout: v.layout }, plain(tf.onesLike(toPlain(v)).cast('bool'))];
  };
}

// ---------------------------------------------------------------------------------------------

const bin = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => broadcastOp(([x, y]) => f(x, y), 2);
const variadic = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => broadcastOp((xs) => xs.reduce((p, q) => f(p, q)));
const divide = (x: tf.Tensor, y: tf.Tensor) => (x.dtype === 'int32' && y.dtype === 'int32'
  ? tf.cast(tf.div(tf.cast(x, 'float32'), tf.cast(y, 'float32')), 'int32') // ONNX: truncation
  : tf.div(x, y));

/** Compilers by ONNX op type (default domain). */
export const OPS: Record<string, (ctx: CompileCtx) => Kernel> = {
  Conv: conv,
  BatchNormalization: batchNorm,
  InstanceNormalization: instanceNorm,
  LayerNormalization: layerNorm,
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalAveragePool: globalPool('avg'),
  GlobalMaxPool: globalPool('max'),
  Gemm: gemm,
  MatMul: matMul,
  Relu: unary((x) => tf.relu(x)),
  LeakyRelu: (ctx) => unary((x) => tf.leakyRelu(x, attrF(ctx, 'alpha', 0.01)))(ctx),
  Elu: (ctx) => { const al = attrF(ctx, 'alpha', 1); return unary((x) => (al === 1 ? tf.elu(x) : tf.where(tf.greater(x, 0), x, tf.mul(tf.expm1(x), al))))(ctx); },
  Selu: unary((x) => tf.selu(x)),
  Sigmoid: unary((x) => tf.sigmoid(x)),
  HardSigmoid: (ctx) => unary((x) => hardSigmoid(x, attrF(ctx, 'alpha', 0.2), attrF(ctx, 'beta', 0.5)))(ctx),
  HardSwish: unary((x) => tf.mul(x, hardSigmoid(x, 1 / 6, 0.5))),
  Mish: unary((x) => tf.mul(x, tf.tanh(tf.softplus(x)))),
  Softplus: unary((x) => tf.softplus(x)),
  Tanh: unary((x) => tf.tanh(x)),
  Exp: unary((x) => tf.exp(x)),
  Log: unary((x) => tf.log(x)),
  Sqrt: unary((x) => tf.sqrt(x)),
  Reciprocal: unary((x) => tf.reciprocal(x)),
  Neg: unary((x) => tf.neg(x)),
  Abs: unary((x) => tf.abs(x)),
  Floor: unary((x) => tf.floor(x)),
  Ceil: unary((x) => tf.ceil(x)),
  Round: unary((x) => tf.round(x)),
  Sign: unary((x) => tf.sign(x)),
  Erf: unary((x) => tf.erf(x)),
  Sin: unary((x) => tf.sin(x)),
  Cos: unary((x) => tf.cos(x)),
  Not: unary((x) => tf.logicalNot(tf.cast(x, 'bool'))),
  Identity: unary((x) => x.clone()),
  Dropout: dropout,
  Clip: clip,
  Cast: cast,
  Gelu: (ctx) => {
    const approx = attrS(ctx, 'approximate', 'none') === 'tanh';
    return unary((x) => (approx
      ? tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))))
      : tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))))))(ctx);
  },
  Add: bin((x, y) => tf.add(x, y)),
  Sub: bin((x, y) => tf.sub(x, y)),
  Mul: bin((x, y) => tf.mul(x, y)),
  Div: bin(divide),
  Pow: bin((x, y) => (y.size === 1 ? tf.pow(x, y.dtype === x.dtype ? y : tf.cast(y, x.dtype)) : tf.pow(x, tf.cast(y, x.dtype)))),
  Max: variadic((x, y) => tf.maximum(x, y)),
  Min: variadic((x, y) => tf.minimum(x, y)),
  Sum: variadic((x, y) => tf.add(x, y)),
  Mean: (ctx) => broadcastOp((xs) => tf.div(xs.reduce((p, q) => tf.add(p, q)), xs.length))(ctx),
  PRelu: bin((x, s) => tf.add(tf.relu(x), tf.mul(s, tf.neg(tf.relu(tf.neg(x)))))),
  Equal: bin((x, y) => tf.equal(x, y)),
  Less: bin((x, y) => tf.less(x, y)),
  LessOrEqual: bin((x, y) => tf.lessEqual(x, y)),
  Greater: bin((x, y) => tf.greater(x, y)),
  GreaterOrEqual: bin((x, y) => tf.greaterEqual(x, y)),
  And: bin((x, y) => tf.logicalAnd(tf.cast(x, 'bool'), tf.cast(y, 'bool'))),
  Or: bin((x, y) => tf.logicalOr(tf.cast(x, 'bool'), tf.cast(y, 'bool'))),
  Where: where,
  Reshape: reshape,
  Flatten: flatten,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  ReduceMean: reduce('mean'),
  ReduceSum: reduce('sum'),
  ReduceMax: reduce('max'),
  ReduceMin: reduce('min'),
  ReduceProd: reduce('prod'),
  ReduceL2: reduce('l2'),
  ReduceSumSquare: reduce('sumsq'),
  Softmax: softmax('softmax'),
  LogSoftmax: softmax('logSoftmax'),
  Pad: pad,
  Resize: resize,
  Upsample: (ctx) => resize({ ...ctx, opset: 10 }),
  Expand: expand,
  Tile: tile,
  ConstantOfShape: constantOfShape,
  Range: range,
};

/**
 * Output (logical shape, layout) of the expensive ops from their input shapes, so that import traces
 * them with zeros instead of computing them (the trace needs shapes only).
 */
export const TRACE_SHAPES: Record<string, (ctx: CompileCtx, shapes: number[][]) => [number[], Layout] | undefined> = {
  Conv: (ctx, [x, w]) => {
    const strides = attrInts(ctx, 'strides') ?? [1, 1];
    const dil = attrInts(ctx, 'dilations') ?? [1, 1];
    const { out } = windowPads(ctx, x.slice(2), w.slice(2), strides, dil, false);
    return [[x[0], w[0], ...out], 'nhwc'];
  },
  MaxPool: (ctx, [x]) => poolShape(ctx, x),
  AveragePool: (ctx, [x]) => poolShape(ctx, x),
  Gemm: (ctx, [a, b]) => {
    const m = attrI(ctx, 'transA', 0) ? a[1] : a[0];
    const n = attrI(ctx, 'transB', 0) ? b[0] : b[1];
    return [[m, n], 'plain'];
  },
  MatMul: (_ctx, [a, b]) => {
    if (a.length < 2 || b.length < 2) return undefined;
    const r = Math.max(a.length, b.length);
    const sa = padShape(a, r), sb = padShape(b, r);
    return [[...sa.slice(0, -2).map((d, i) => Math.max(d, sb[i])), sa[r - 2], sb[r - 1]], 'plain'];
  },
};

function poolShape(ctx: CompileCtx, x: number[]): [number[], Layout] {
  const kernel = attrInts(ctx, 'kernel_shape')!;
  const strides = attrInts(ctx, 'strides') ?? [1, 1];
  const { out } = windowPads(ctx, x.slice(2), kernel, strides, [1, 1], attrI(ctx, 'ceil_mode', 0) === 1);
  return [[x[0], x[1], ...out], 'nhwc'];
}

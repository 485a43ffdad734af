/**
 * ONNX protobuf decoding with protobufjs 8 (light build, reflection from a JSON descriptor).
 *
 * Why protobufjs 8 with our own descriptor rather than `onnx-proto`: onnx-proto is generated from
 * ONNX 1.10.2 and pins protobufjs 6 (end of life), as CommonJS static code; protobufjs 8 is the
 * maintained line, and the light build plus a ~100-line descriptor (field numbers from onnx.proto)
 * has everything we read, bundles for the browser without the .proto parser, and decodes the
 * weights (`raw_data`) as views of the file's bytes, without copies.
 */
import protobuf from 'protobufjs/light.js';
import { GradcamError } from '../types.js';

const ONNX_SCHEMA = {
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
        TensorShapeProto: {
          fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } },
          nested: {
            Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 }, denotation: { type: 'string', id: 3 } } },
          },
        },
        TypeProto: {
          fields: { tensorType: { type: 'Tensor', id: 1 }, denotation: { type: 'string', id: 6 } },
          nested: { Tensor: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } } },
        },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 }, docString: { type: 'string', id: 3 } } },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4 },
            int32Data: { rule: 'repeated', type: 'int32', id: 5 },
            int64Data: { rule: 'repeated', type: 'int64', id: 7 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            doubleData: { rule: 'repeated', type: 'double', id: 10 },
            uint64Data: { rule: 'repeated', type: 'uint64', id: 11 },
            externalData: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
            dataLocation: { type: 'int32', id: 14 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphProto', id: 6 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
            type: { type: 'int32', id: 20 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
          },
        },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(ONNX_SCHEMA);
const ModelProto = root.lookupType('onnx.ModelProto');
const Graph = root.lookupType('onnx.GraphProto');
const ValueInfo = root.lookupType('onnx.ValueInfoProto');

type Int64 = number | { toNumber(): number };
const num = (v: Int64 | null | undefined): number => (v == null ? 0 : typeof v === 'number' ? v : v.toNumber());

/** ONNX TensorProto.DataType values we read. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11 } as const;
const TYPE_NAMES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16' };
export const typeName = (t: number) => TYPE_NAMES[t] ?? `type ${t}`;

/** A constant tensor: float data as Float32Array, integer data as plain numbers (int64 fits for shapes and indices). */
export interface OnnxTensor {
  name: string;
  dims: number[];
  /** 'float' (float32/float16/float64 as Float32Array) or 'int' (any integer or bool type, as Float64Array-free number[]). */
  kind: 'float' | 'int';
  data: Float32Array | number[];
  dataType: number;
}

export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number; i?: number; s?: string; t?: OnnxTensor; floats?: number[]; ints?: number[]; strings?: string[];
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  name: string;
  elemType: number;
  /** Dimensions: a number, or the symbolic name (`batch_size`), or null when unknown. */
  shape: (number | string | null)[] | null;
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** value_info entries (shapes of intermediates), when the exporter wrote them. */
  valueInfo: Map<string, OnnxValueInfo>;
}

export interface OnnxModel {
  /** The default-domain opset. */
  opset: number;
  irVersion: number;
  producer: string;
  graph: OnnxGraph;
  metadata: Map<string, string>;
  /** Whether some initializer had its data in an external file (inlined into `inlined` bytes for ORT). */
  externalData: boolean;
}

/** Reads an external data file named in the model (relative to the model's folder); undefined when absent. */
export type ExternalReader = (location: string) => Promise<Uint8Array | undefined>;

// protobufjs decoded message shapes (only what we read)
interface PTensor {
  dims?: Int64[]; dataType?: number; floatData?: number[]; int32Data?: number[]; int64Data?: Int64[];
  name?: string; rawData?: Uint8Array; doubleData?: number[]; uint64Data?: Int64[];
  externalData?: { key: string; value: string }[]; dataLocation?: number;
}
interface PAttr { name: string; type?: number; f?: number; i?: Int64; s?: Uint8Array; t?: PTensor; floats?: number[]; ints?: Int64[]; strings?: Uint8Array[] }
interface PNode { input?: string[]; output?: string[]; name?: string; opType?: string; domain?: string; attribute?: PAttr[] }
interface PValueInfo { name?: string; type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: Int64; dimParam?: string }[] } } } }
interface PGraph { node?: PNode[]; initializer?: PTensor[]; input?: PValueInfo[]; output?: PValueInfo[]; valueInfo?: PValueInfo[] }
interface PModel { irVersion?: Int64; producerName?: string; producerVersion?: string; graph?: PGraph; opsetImport?: { domain?: string; version?: Int64 }[]; metadataProps?: { key: string; value: string }[] }

const utf8 = new TextDecoder();

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Decodes a TensorProto's values (raw_data or the typed fields). */
function tensorValues(t: PTensor, raw: Uint8Array | undefined, where: string): { kind: 'float' | 'int'; data: Float32Array | number[] } {
  const type = t.dataType ?? 0;
  const count = (t.dims ?? []).reduce<number>((a, d) => a * num(d), 1);
  if (raw && raw.byteLength) {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const need = (bytes: number) => {
      if (raw.byteLength < count * bytes) throw new GradcamError(`tensor '${t.name}' holds ${raw.byteLength} bytes, its shape needs ${count * bytes}${where}`);
    };
    switch (type) {
      case DataType.FLOAT: {
        need(4);
        // An aligned copy (raw_data may sit at any offset of the file).
        const out = new Float32Array(count);
        new Uint8Array(out.buffer).set(raw.subarray(0, count * 4));
        return { kind: 'float', data: out };
      }
      case DataType.DOUBLE: { need(8); const out = new Float32Array(count); for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, true); return { kind: 'float', data: out }; }
      case DataType.FLOAT16: { need(2); const out = new Float32Array(count); for (let i = 0; i < count; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true)); return { kind: 'float', data: out }; }
      case DataType.INT64: case 13: {
        need(8);
        const out: number[] = new Array(count);
        for (let i = 0; i < count; i++) out[i] = Number(type === 13 ? dv.getBigUint64(i * 8, true) : dv.getBigInt64(i * 8, true));
        return { kind: 'int', data: out };
      }
      case DataType.INT32: { need(4); return { kind: 'int', data: Array.from({ length: count }, (_, i) => dv.getInt32(i * 4, true)) }; }
      case 12: { need(4); return { kind: 'int', data: Array.from({ length: count }, (_, i) => dv.getUint32(i * 4, true)) }; }
      case 5: { need(2); return { kind: 'int', data: Array.from({ length: count }, (_, i) => dv.getInt16(i * 2, true)) }; }
      case 4: { need(2); return { kind: 'int', data: Array.from({ length: count }, (_, i) => dv.getUint16(i * 2, true)) }; }
      case DataType.INT8: { need(1); return { kind: 'int', data: Array.from({ length: count }, (_, i) => dv.getInt8(i)) }; }
      case DataType.UINT8: case DataType.BOOL: { need(1); return { kind: 'int', data: Array.from(raw.subarray(0, count)) }; }
    }
    throw new GradcamError(`tensor '${t.name}' has unsupported data type ${typeName(type)}${where}`);
  }
  switch (type) {
    case DataType.FLOAT: return { kind: 'float', data: Float32Array.from(t.floatData ?? []) };
    case DataType.DOUBLE: return { kind: 'float', data: Float32Array.from(t.doubleData ?? []) };
    case DataType.FLOAT16: return { kind: 'float', data: Float32Array.from(t.int32Data ?? [], halfToFloat) };
    case DataType.INT64: return { kind: 'int', data: (t.int64Data ?? []).map(num) };
    case 13: return { kind: 'int', data: (t.uint64Data ?? []).map(num) };
    case 12: return { kind: 'int', data: (t.uint64Data ?? []).map(num) };
    case DataType.INT32: case DataType.INT8: case DataType.UINT8: case DataType.BOOL: case 4: case 5:
      return { kind: 'int', data: [...(t.int32Data ?? [])] };
  }
  throw new GradcamError(`tensor '${t.name}' has unsupported data type ${typeName(type)}${where}`);
}

function tensor(t: PTensor, external?: Map<string, Uint8Array>): OnnxTensor {
  let raw = t.rawData;
  if (t.dataLocation === 1) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key, e.value]));
    const file = external?.get(kv.get('location') ?? '');
    if (!file) throw new GradcamError(`external data '${kv.get('location')}' of tensor '${t.name}' is missing`);
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : file.byteLength - offset;
    if (offset + length > file.byteLength) throw new GradcamError(`external data '${kv.get('location')}' is too short for tensor '${t.name}' (truncated?)`);
    raw = file.subarray(offset, offset + length);
  }
  const { kind, data } = tensorValues(t, raw, '');
  const dims = (t.dims ?? []).map(num);
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new GradcamError(`tensor '${t.name}' has ${data.length} values, its shape [${dims}] needs ${count}`);
  return { name: t.name ?? '', dims, kind, data, dataType: t.dataType ?? 0 };
}

function attribute(a: PAttr, external?: Map<string, Uint8Array>): OnnxAttribute {
  return {
    name: a.name,
    type: a.type ?? 0,
    f: a.f,
    i: a.i == null ? undefined : num(a.i),
    s: a.s ? utf8.decode(a.s) : undefined,
    t: a.t ? tensor(a.t, external) : undefined,
    floats: a.floats?.length ? [...a.floats] : undefined,
    ints: a.ints?.length ? a.ints.map(num) : undefined,
    strings: a.strings?.length ? a.strings.map((s) => utf8.decode(s)) : undefined,
  };
}

function valueInfo(v: PValueInfo): OnnxValueInfo {
  const tt = v.type?.tensorType;
  return {
    name: v.name ?? '',
    elemType: tt?.elemType ?? 0,
    shape: tt?.shape ? (tt.shape.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue != null ? num(d.dimValue) : null)) : null,
  };
}

/** Decodes the protobuf message; a one-line GradcamError when the bytes are not an ONNX model. */
function decodeMessage(bytes: Uint8Array): PModel {
  let msg: PModel;
  try {
    msg = ModelProto.toObject(ModelProto.decode(bytes), { defaults: false, arrays: true }) as PModel;
  } catch (e) {
    const m = (e as Error).message;
    throw new GradcamError(/index out of range/.test(m) ? 'not a complete ONNX model (the file is truncated)' : `not an ONNX model (${m.split('\n')[0]})`);
  }
  if (!msg.graph || !msg.graph.node?.length || !msg.opsetImport?.length) {
    throw new GradcamError('not an ONNX model (no graph or no opset in the file)');
  }
  return msg;
}

/** External data files the model refers to (`location` of initializers stored outside the file). */
export function externalLocations(bytes: Uint8Array): string[] {
  const msg = decodeMessage(bytes);
  const out = new Set<string>();
  for (const t of msg.graph!.initializer ?? []) {
    if (t.dataLocation === 1) for (const e of t.externalData ?? []) if (e.key === 'location') out.add(e.value);
  }
  return [...out];
}

/**
 * Parses an ONNX model. `readExternal` supplies external weight files (the `.onnx.data` beside it).
 * Throws a one-line {@link GradcamError} for truncated or non-ONNX bytes and missing external data.
 */
export async function parseOnnx(bytes: Uint8Array, readExternal?: ExternalReader): Promise<OnnxModel> {
  const msg = decodeMessage(bytes);
  const g = msg.graph!;
  const external = new Map<string, Uint8Array>();
  for (const loc of externalLocations(bytes)) {
    const data = await readExternal?.(loc);
    if (!data) throw new GradcamError(`external weight data '${loc}' is missing (keep it beside the .onnx file)`);
    external.set(loc, data);
  }
  const opset = num(msg.opsetImport!.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
  return {
    opset,
    irVersion: num(msg.irVersion),
    producer: `${msg.producerName ?? ''} ${msg.producerVersion ?? ''}`.trim(),
    externalData: external.size > 0,
    metadata: new Map((msg.metadataProps ?? []).map((e) => [e.key, e.value])),
    graph: {
      nodes: (g.node ?? []).map((n, i) => ({
        name: n.name || `${n.opType}_${i}`,
        opType: n.opType ?? '',
        domain: n.domain ?? '',
        inputs: n.input ?? [],
        outputs: n.output ?? [],
        attrs: new Map((n.attribute ?? []).map((a) => [a.name, attribute(a, external)])),
      })),
      initializers: new Map((g.initializer ?? []).map((t) => [t.name ?? '', tensor(t, external)])),
      inputs: (g.input ?? []).map(valueInfo),
      outputs: (g.output ?? []).map(valueInfo),
      valueInfo: new Map((g.valueInfo ?? []).map((v) => [v.name ?? '', valueInfo(v)])),
    },
  };
}

/**
 * The model bytes with `patch` (a partial `ModelProto` as a plain object) appended. A protobuf message
 * followed by another one parses as their merge (repeated fields concatenate), so this adds graph
 * outputs, inputs or initializers without re-encoding (or copying the weights through) the model.
 */
export function appendToModel(bytes: Uint8Array, patch: Record<string, unknown>): Uint8Array {
  return concat([bytes, ModelProto.encode(ModelProto.fromObject(patch)).finish()]);
}

/** The model bytes with the tensors `outputs` added as graph outputs (see {@link appendToModel}). */
export function withExtraOutputs(bytes: Uint8Array, outputs: { name: string; elemType: number }[]): Uint8Array {
  return appendToModel(bytes, { graph: { output: outputs.map((o) => ({ name: o.name, type: { tensorType: { elemType: o.elemType } } })) } });
}

/** Names of the inputs of a model made by {@link withBlendedInput}. */
export const BLEND_INPUTS = { to: 'gradcam::to', from: 'gradcam::from', mask: 'gradcam::mask', rank: 'gradcam::rank', count: 'gradcam::count' } as const;

/** Each top-level field of a protobuf message: its number and the raw bytes of the whole field. */
function wireFields(buf: Uint8Array): { id: number; raw: Uint8Array; body?: Uint8Array }[] {
  const r = protobuf.Reader.create(buf);
  const out: { id: number; raw: Uint8Array; body?: Uint8Array }[] = [];
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    let body: Uint8Array | undefined;
    if ((tag & 7) === 2) {
      const len = r.uint32();
      body = buf.subarray(r.pos, r.pos + len);
      r.skip(len);
    } else {
      r.skipType(tag & 7);
    }
    out.push({ id: tag >>> 3, raw: buf.subarray(start, r.pos), body });
  }
  return out;
}

/**
 * The model with its image input `input` replaced by `from + (to − from) · mask` (or `to · mask`
 * without `from`): inputs {@link BLEND_INPUTS} `to`, `from` `[1, C, H, W]` and `mask` `[B, 1, H, W]`,
 * so that ONNX Runtime builds Score-CAM's masked copies and deletion/insertion steps itself (one
 * small mask per row is sent instead of a whole image). `ranked`: the masks are made in the graph
 * too, `mask = rank < count` from `rank` `[1, 1, H, W]` and `count` `[B, 1, 1, 1]` (a curve's steps:
 * one number per row crosses over). The graph is edited at the wire level: every field this code
 * does not know (functions, docs, sparse weights) passes through untouched.
 */
export function withBlendedInput(bytes: Uint8Array, input: string, withFrom: boolean, ranked = false): Uint8Array {
  const { to, from, mask, rank, count } = BLEND_INPUTS;
  const d = `${to}-${from}`;
  const s = `(${d})*${mask}`;
  const node = (opType: string, inputs: string[], output: string, attribute: unknown[] = []) => ({ name: `gradcam::${opType}`, opType, input: inputs, output: [output], attribute });
  const scaled = [node('Mul', [to, mask], input)];
  const blended = [node('Sub', [to, from], d), node('Mul', [d, mask], s), node('Add', [from, s], input)];
  const cast = node('Cast', [`${mask}:bool`], mask, [{ name: 'to', type: 2, i: DataType.FLOAT }]);
  // Ranked masks are 0/1: with `from`, one Where picks each pixel from `to` or `from` (one pass).
  const nodes = !ranked ? (withFrom ? blended : scaled)
    : withFrom ? [node('Less', [rank, count], `${mask}:bool`), node('Where', [`${mask}:bool`, to, from], input)]
      : [node('Less', [rank, count], `${mask}:bool`), cast, ...scaled];
  const inputs = [to, ...(withFrom ? [from] : []), ...(ranked ? [rank, count] : [mask])];
  const head = Graph.encode(Graph.fromObject({ node: nodes })).finish();
  return editGraph(bytes, (fields) => [
    head,
    ...fields.filter((g) => !(g.id === 11 && g.body && nameOf(ValueInfo, g.body) === input)).map((g) => g.raw),
    floatInputs(inputs),
  ]);
}

/**
 * The model cut at a tensor: only the nodes that make one of `keep` (a node is named by its first
 * output), the graph inputs replaced by `inputs` (float tensors fed instead of computed), outputs
 * kept where the cut graph makes or is fed them. Weights and every unknown field pass through. ONNX
 * Runtime then runs the rest of the network after an explained layer on given activations
 * (Ablation-CAM's ablated copies).
 */
export function withGraphCut(bytes: Uint8Array, keep: Set<string>, inputs: string[]): Uint8Array {
  const Node = root.lookupType('onnx.NodeProto');
  const Tensor = root.lookupType('onnx.TensorProto');
  return editGraph(bytes, (fields) => {
    // First the kept nodes: what they make and read.
    const made = new Set(inputs);
    const read = new Set<string>();
    const nodes = new Set<Uint8Array>();
    for (const g of fields) {
      if (g.id !== 1 || !g.body) continue;
      const n = Node.decode(g.body) as unknown as { input: string[]; output: string[] };
      if (!keep.has(n.output[0])) continue;
      nodes.add(g.raw);
      n.output.forEach((o) => made.add(o));
      n.input.forEach((i) => read.add(i));
    }
    const kept = fields.filter((g) => {
      if (g.id === 1) return nodes.has(g.raw);
      if (g.id === 11 || g.id === 13) return false; // inputs replaced; shapes inferred again
      if (g.id === 5 && g.body) return read.has(nameOf(Tensor, g.body)); // weights of the kept nodes only
      if (g.id === 12 && g.body) return made.has(nameOf(ValueInfo, g.body));
      return true;
    });
    return [...kept.map((g) => g.raw), floatInputs(inputs)];
  });
}

/** The `name` field of an encoded message that has one (a tensor, a value info). */
const nameOf = (type: protobuf.Type, body: Uint8Array) => (type.decode(body) as unknown as { name: string }).name;

/** Graph fields declaring float tensors `names` as graph inputs. */
const floatInputs = (names: string[]) =>
  Graph.encode(Graph.fromObject({ input: names.map((name) => ({ name, type: { tensorType: { elemType: DataType.FLOAT } } })) })).finish();

/**
 * The model with its graph rewritten by `edit`, which gets the graph's top-level fields and returns
 * the encoded fields of the new graph; every other field of the model passes through as it is.
 */
function editGraph(bytes: Uint8Array, edit: (fields: ReturnType<typeof wireFields>) => Uint8Array[]): Uint8Array {
  return concat(wireFields(bytes).map((f) => (f.id === 7 && f.body
    ? protobuf.Writer.create().uint32((7 << 3) | 2).bytes(concat(edit(wireFields(f.body)))).finish()
    : f.raw)));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The model re-encoded with external data inlined (for runtimes that are given bytes, not a path). */
export function inlineExternalData(bytes: Uint8Array, model: OnnxModel): Uint8Array {
  const msg = ModelProto.decode(bytes) as unknown as { graph: { initializer: (PTensor & { name: string })[] } };
  for (const t of msg.graph.initializer) {
    if (t.dataLocation !== 1) continue;
    const v = model.graph.initializers.get(t.name)!;
    t.dataLocation = 0;
    t.externalData = [];
    if (v.kind === 'float' && t.dataType === DataType.FLOAT) {
      t.rawData = new Uint8Array((v.data as Float32Array).buffer.slice(0));
    } else {
      throw new GradcamError(`external data of a non-float32 tensor ('${t.name}') is not supported`);
    }
  }
  return ModelProto.encode(msg as unknown as protobuf.Message).finish();
}

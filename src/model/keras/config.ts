/**
 * Keras model configs (Keras 3 `config.json`, Keras 2 `model_config`) translated into the Keras-2
 * style topology that tfjs-layers deserializes. Keras 3 differences handled here: `batch_shape`,
 * `DTypePolicy` objects, `module`/`registered_name`/`build_config` wrappers, the new `inbound_nodes`
 * form (`args`/`kwargs` with `__keras_tensor__` entries), single-tensor `input_layers`/`output_layers`.
 * Layers TF.js cannot build (Lambda, custom, TF-Hub) are reported by name and class before building.
 */
import * as tf from '@tensorflow/tfjs';
import { tfjsClassFor, type ScalarOpName } from './layers.js';

export type Json = Record<string, unknown>;

const CONTAINERS = new Set(['Sequential', 'Functional', 'Model']);

/** Activations tfjs-layers implements (Keras names), and Keras 3 aliases. */
const ACTIVATIONS = new Set(['elu', 'hard_sigmoid', 'linear', 'relu', 'relu6', 'selu', 'sigmoid', 'softmax', 'softplus', 'softsign', 'tanh', 'swish', 'mish', 'gelu', 'gelu_new', 'log_softmax']);
const ACTIVATION_ALIASES: Record<string, string> = { silu: 'swish' };

/** A config problem, always about one layer: `layer 'name' (Class): problem`. */
export class KerasConfigError extends Error {}

const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** One layer of the config tree (containers have `layers`), in config order. */
export interface LayerNode {
  name: string;
  className: string;
  config: Json;
  /** Sub-layers of a nested model. */
  layers?: LayerNode[];
}

const layerError = (name: string, cls: string, problem: string) => new KerasConfigError(`layer '${name}' (${cls}): ${problem}`);

/** Whether TF.js (or this loader) can build a layer of this class. */
function known(cls: string): boolean {
  if (CONTAINERS.has(cls) || tfjsClassFor(cls)) return true;
  return cls in tf.serialization.SerializationMap.getMap().classNameMap;
}

/** Rejects what cannot be built: Lambda, custom classes, TF-Hub layers, unknown classes. */
function checkClass(entry: Json, name: string): void {
  const cls = String(entry.class_name);
  const module = typeof entry.module === 'string' ? entry.module : undefined;
  const registered = typeof entry.registered_name === 'string' ? entry.registered_name : undefined;
  if (cls === 'Lambda' || cls === 'TFOpLambda' || cls === 'SlicingOpLambda') {
    throw layerError(name, cls, 'Python code (Lambda) cannot be loaded outside Python; rebuild the model without it');
  }
  if (cls === 'KerasLayer' || module?.startsWith('tensorflow_hub')) {
    throw layerError(name, cls, 'TF-Hub layers cannot be loaded; convert the model with tensorflowjs_converter');
  }
  if (module?.startsWith('keras.src.ops') || module?.startsWith('keras.ops')) {
    throw layerError(name, cls, 'keras.ops operations applied to tensors in a functional model are not supported; use layers');
  }
  const custom = (module && !module.startsWith('keras')) || (registered && registered !== cls && !registered.startsWith('keras'));
  if (custom) throw layerError(name, cls, `custom layer${registered ? ` '${registered}'` : ''} is not supported`);
  if (!known(cls)) throw layerError(name, cls, 'unknown layer class, not supported');
}

/** `DTypePolicy` objects → a dtype name; mixed precision runs in float32. */
function dtypeName(d: unknown): string | undefined {
  const name = isObj(d) ? (isObj(d.config) ? String(d.config.name) : undefined) : typeof d === 'string' ? d : undefined;
  if (!name) return undefined;
  return /float16|bfloat16|mixed/.test(name) ? 'float32' : name;
}

/** Keras 3 serialized objects (`{module, class_name, config, registered_name}`) → `{class_name, config}`, recursively. */
function stripWrappers(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(stripWrappers);
  if (!isObj(x)) return x;
  if ('class_name' in x && 'config' in x && ('module' in x || 'registered_name' in x)) {
    return { class_name: x.class_name, config: stripWrappers(x.config) };
  }
  return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, stripWrappers(v)]));
}

/** Keras 3 `__keras_tensor__` references in a node's args, in order: `[layer, node, tensor]`. */
function kerasTensors(x: unknown, out: [string, number, number][] = []): [string, number, number][] {
  if (Array.isArray(x)) x.forEach((v) => kerasTensors(v, out));
  else if (isObj(x)) {
    if (x.class_name === '__keras_tensor__' && isObj(x.config)) {
      const h = x.config.keras_history as [string, number, number];
      out.push([h[0], h[1], h[2]]);
    } else Object.values(x).forEach((v) => kerasTensors(v, out));
  }
  return out;
}

/**
 * Inbound nodes in the Keras 2 form `[[[layer, node, tensor, kwargs], …], …]`. Node indices of a
 * nested model count its own built-in node in Keras 2, tfjs-layers and Keras 3's Functional, but not
 * in Keras 3's Sequential (no longer a Functional): those get +1. `classes`: sibling name → class.
 */
function inboundNodes(nodes: unknown, classes: Map<string, string>): unknown[] {
  if (!Array.isArray(nodes)) return [];
  return nodes.map((node) => {
    if (Array.isArray(node)) return node; // Keras 2
    const n = node as Json;
    return kerasTensors([n.args]).map(([l, i, t]) => [l, classes.get(l) === 'Sequential' ? i + 1 : i, t, {}]);
  });
}

/** `input_layers`/`output_layers`: always a list of `[layer, node, tensor]`. */
function tensorList(x: unknown): unknown[] {
  if (isObj(x)) return Object.values(x).flatMap(tensorList);
  if (!Array.isArray(x)) return [];
  if (x.length === 3 && typeof x[0] === 'string' && typeof x[1] === 'number') return [x];
  return x.flatMap(tensorList);
}

function activationName(a: unknown): unknown {
  if (isObj(a)) return typeof a.config === 'string' ? a.config : a.class_name;
  return a;
}

/** Keras 2 `TFOpLambda` functions and Keras 3 `keras.ops` classes that are arithmetic with a constant. */
const SCALAR_OPS: Record<string, ScalarOpName> = {
  'math.add': 'add', '__operators__.add': 'add', 'math.subtract': 'sub', '__operators__.sub': 'sub',
  'math.multiply': 'mul', '__operators__.mul': 'mul', 'math.truediv': 'div', 'math.divide': 'div', '__operators__.truediv': 'div',
  Add: 'add', Subtract: 'sub', Multiply: 'mul', TrueDivide: 'div', Divide: 'div',
};

/**
 * A `TFOpLambda` (Keras 2) or `keras.ops` node (Keras 3) that combines one tensor with a number, rewritten
 * as a {@link KerasScalarOp} layer; undefined for anything else.
 */
function scalarOp(entry: Json, name: string): Json | undefined {
  const cls = String(entry.class_name);
  const cfg = (entry.config ?? {}) as Json;
  const keras3 = typeof entry.module === 'string' && /^keras(\.src)?\.ops/.test(entry.module);
  const op = cls === 'TFOpLambda' ? SCALAR_OPS[String(cfg.function)] : keras3 ? SCALAR_OPS[cls] : undefined;
  if (!op) return undefined;
  const nodes = entry.inbound_nodes as unknown[];
  if (!Array.isArray(nodes) || nodes.length !== 1) throw layerError(name, cls, 'an operation called more than once is not supported');
  let scalar: unknown;
  let scalarFirst = false;
  let inbound: unknown[];
  if (Array.isArray(nodes[0])) { // Keras 2: [[layer, node, tensor, {y: c}]]
    const refs = nodes[0] as unknown[][];
    const kwargs = (refs[0]?.[3] ?? {}) as Json;
    scalar = kwargs.y;
    inbound = [refs.map((r) => [r[0], r[1], r[2], {}])];
  } else { // Keras 3: {args: [tensor, c]} or [c, tensor]
    const args = ((nodes[0] as Json).args ?? []) as unknown[];
    const at = args.findIndex((a) => typeof a === 'number');
    scalar = args[at];
    scalarFirst = at === 0;
    inbound = [nodes[0]];
  }
  if (typeof scalar !== 'number' || kerasTensors(inbound).length > 1 && !Array.isArray(nodes[0])) {
    throw layerError(name, cls, 'only arithmetic of a tensor with a constant number is supported');
  }
  return { ...entry, class_name: 'KerasScalarOp', module: undefined, registered_name: undefined,
    config: { name, op, scalar, scalar_first: scalarFirst, keras_class: cls, dtype: 'float32' }, inbound_nodes: inbound };
}

/** Translates one layer entry (and, for nested models, its layers). */
function translateLayer(original: Json, tree: LayerNode[], siblings = new Map<string, string>()): Json {
  const entry = scalarOp(original, String((original.config as Json | undefined)?.name ?? original.name ?? original.class_name)) ?? original;
  const cls = String(entry.class_name);
  // Keras ≤ 2.1 saved a Sequential's config as the bare list of its layers.
  const cfg = Array.isArray(entry.config) ? { name: 'sequential', layers: entry.config } as Json : { ...(entry.config as Json) };
  const name = String(cfg.name ?? entry.name ?? cls);
  checkClass(entry, name);
  if (cfg.batch_shape !== undefined) {
    cfg.batch_input_shape = cfg.batch_shape;
    delete cfg.batch_shape;
  }
  if (cls === 'InputLayer') {
    cfg.dtype = 'float32';
    delete cfg.optional;
  } else if (cfg.dtype !== undefined) {
    cfg.dtype = dtypeName(cfg.dtype);
  }
  if (cfg.data_format === 'channels_first') throw layerError(name, cls, 'channels_first data is not supported');
  if (cfg.keepdims === true) throw layerError(name, cls, 'keepdims=True is not supported');
  if (typeof cfg.groups === 'number' && cfg.groups !== 1) throw layerError(name, cls, `grouped convolution (groups=${cfg.groups}) is not supported`);
  if (cfg.activation !== undefined) {
    let a = activationName(cfg.activation);
    if (typeof a === 'string') {
      a = ACTIVATION_ALIASES[a] ?? a;
      if (!ACTIVATIONS.has(a as string)) throw layerError(name, cls, `activation '${a}' is not supported`);
    }
    cfg.activation = a;
  }
  // Keras 2 saves a built BatchNormalization's axis as a one-element list; tfjs-layers wants a number.
  if (Array.isArray(cfg.axis) && cfg.axis.length === 1 && /Normalization$/.test(cls) && cls !== 'Normalization') cfg.axis = cfg.axis[0];
  delete cfg.quantization_config;
  delete cfg.lora_rank;
  delete cfg.lora_alpha;
  const node: LayerNode = { name, className: entry === original ? cls : String(original.class_name), config: cfg };
  tree.push(node);
  if (CONTAINERS.has(cls)) {
    node.layers = [];
    const layers = (cfg.layers as Json[] | undefined) ?? [];
    const classes = new Map(layers.map((l) => [String((l.config as Json | undefined)?.name ?? l.name), String(l.class_name)]));
    cfg.layers = layers.map((l) => translateLayer(l, node.layers!, classes));
    if (cls !== 'Sequential') {
      cfg.input_layers = tensorList(cfg.input_layers);
      cfg.output_layers = tensorList(cfg.output_layers);
    } else {
      const first = cfg.layers as Json[];
      const build = (cfg.build_input_shape ?? (entry.build_config as Json | undefined)?.input_shape) as unknown[] | undefined;
      if (first.length && first[0].class_name !== 'InputLayer' && build && !(first[0].config as Json).batch_input_shape) {
        (first[0].config as Json).batch_input_shape = build;
      }
    }
    delete cfg.build_input_shape;
  }
  const own = tfjsClassFor(cls);
  if (own === 'KerasIdentity') cfg.keras_class = cls;
  const out: Json = { class_name: own ?? cls, config: stripWrappers(cfg) };
  if (entry.name !== undefined || entry.inbound_nodes !== undefined) out.name = name;
  if (entry.inbound_nodes !== undefined) out.inbound_nodes = inboundNodes(entry.inbound_nodes, siblings);
  return out;
}

/** A translated config: the topology for `tf.models.modelFromJSON` and the layer tree (config order). */
export interface TranslatedConfig {
  topology: Json;
  root: LayerNode;
}

/** Translates a Keras model config (either version) for tfjs-layers. Throws {@link KerasConfigError}. */
export function translateConfig(config: Json): TranslatedConfig {
  if (!isObj(config) || typeof config.class_name !== 'string' || !(isObj(config.config) || Array.isArray(config.config))) {
    throw new KerasConfigError('the model config is not a Keras model (no class_name/config)');
  }
  if (!CONTAINERS.has(config.class_name)) {
    throw new KerasConfigError(`the model is a '${config.class_name}', not a Sequential or Functional model (subclassed models cannot be loaded)`);
  }
  const tree: LayerNode[] = [];
  const topology = translateLayer(config, tree);
  return { topology: { class_name: topology.class_name, config: topology.config, keras_version: '2.15.0', backend: 'tensorflow' }, root: tree[0] };
}

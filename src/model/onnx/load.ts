/**
 * Loading an ONNX model from bytes (isomorphic: Node's loader reads the file, the browser a File).
 * The ONNX Runtime module is injected: `onnxruntime-node` in Node, `onnxruntime-web` in the browser
 * (the default here, loaded on demand).
 */
import imagenetLabels from '../imagenet-labels.json' with { type: 'json' };
import { GradcamError, type Preprocessing } from '../types.js';
import { disposeProgram, importGraph } from './graph.js';
import { hoistTokenGathers } from './tokens.js';
import { OnnxExplainableModel, type TokenOption } from './model.js';
import { OrtRunner, type OrtModule, type OrtOptions } from './ort.js';
import { inlineExternalData, parseOnnx, type ExternalReader } from './proto.js';

/** Pascal VOC's 21 classes (torchvision segmentation models). */
export const PASCAL_VOC_LABELS = ['background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor'];

/**
 * The `<model>.json` beside a `.onnx` file (all optional):
 * `{ "name", "labels": [..] | "imagenet" | "pascal-voc-21", "preprocessing": { "mean", "std" } | { "range" },
 *    "targetLayer": { "tensor" }, "tokens": { "grid", "drop" } }`.
 */
export interface OnnxMetadata {
  name?: string;
  labels?: string[] | string;
  preprocessing?: Partial<Preprocessing> & { scale?: string };
  targetLayer?: { tensor?: string; module?: string } | string;
  tokens?: TokenOption | string | null;
}

export interface OnnxLoadOptions {
  /** The ONNX Runtime module (`import * as ort from 'onnxruntime-node'`); default: onnxruntime-web. */
  ort?: OrtModule;
  ortOptions?: OrtOptions;
  /** External weight files (`.onnx.data`) by the name the model gives. */
  readExternal?: ExternalReader;
  metadata?: OnnxMetadata;
  labels?: string[];
  preprocessing?: Partial<Preprocessing>;
  /** Token layout for token layers whose count is not n×n or n×n + 1. */
  tokens?: TokenOption;
  /** Display name (default: the file name). */
  name?: string;
}

function labelsOf(given: string[] | string | undefined, classes: number): string[] {
  if (Array.isArray(given) && given.length) return given;
  if (given === 'imagenet' || (given === undefined && classes === 1000)) return imagenetLabels;
  if (given === 'pascal-voc-21' || given === 'voc' || (given === undefined && classes === 21)) return PASCAL_VOC_LABELS;
  if (classes === 1001 && given === undefined) return ['background', ...imagenetLabels];
  if (classes === 1 && given === undefined) return ['negative', 'positive'];
  return Array.from({ length: classes }, (_, i) => `class ${i}`);
}

/** onnxruntime-web, or a one-line error saying how to provide it. */
async function importOrtWeb(source: string): Promise<OrtModule> {
  try {
    return (await import('onnxruntime-web')) as unknown as OrtModule;
  } catch (e) {
    throw new GradcamError(`ONNX models need ONNX Runtime: install onnxruntime-web (a bundler finds it), map it in an import map, or pass { ort } (${(e as Error).message.split('\n')[0]})`, source);
  }
}

/** Loads an ONNX model from its bytes. `source` names it in messages. */
export async function loadOnnxFromBytes(bytes: Uint8Array, source: string, opts: OnnxLoadOptions = {}): Promise<OnnxExplainableModel> {
  let model;
  try {
    model = await parseOnnx(bytes, opts.readExternal);
  } catch (e) {
    if (e instanceof GradcamError) throw new GradcamError(e.message, source);
    throw e;
  }
  let program = importGraph(model, source);
  const hoisted = hoistTokenGathers(model, program);
  if (hoisted) {
    // Imported again with the class token taken early (see tokens.ts); ONNX Runtime keeps the original.
    disposeProgram(program);
    program = importGraph(hoisted, source);
  }
  const ort = opts.ort ?? (await importOrtWeb(source));
  const ortBytes = model.externalData ? inlineExternalData(bytes, model) : bytes;
  const runner = new OrtRunner(ort, ortBytes, program.input, source, opts.ortOptions);
  try {
    await runner.ready();
    const meta = opts.metadata ?? {};
    const inShape = program.meta.get(program.input)!.shape as number[];
    const mp = meta.preprocessing ?? {};
    const preprocessing: Preprocessing = {
      size: [inShape[2], inShape[3]],
      range: mp.range ?? [0, 1],
      resize: 'squash',
      ...(mp.mean && mp.std ? { mean: mp.mean, std: mp.std } : {}),
      ...(inShape[1] === 1 ? { channels: 1 as const } : {}),
      ...opts.preprocessing,
    };
    if (!mp.mean && !mp.range && !opts.preprocessing) {
      // torchvision's convention when nothing is said.
      preprocessing.mean = [0.485, 0.456, 0.406];
      preprocessing.std = [0.229, 0.224, 0.225];
    }
    const out0 = program.meta.get(program.outputs[0])!.shape;
    const classes = (out0.length === 4 ? out0[1] : out0.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1)) ?? 1;
    const given = opts.labels ?? meta.labels;
    if (Array.isArray(given) && given.length !== classes) {
      throw new GradcamError(`the model has ${classes} outputs but ${given.length} labels were given`, source);
    }
    const target = typeof meta.targetLayer === 'string' ? meta.targetLayer : meta.targetLayer?.tensor;
    const tokens = opts.tokens ?? (meta.tokens && typeof meta.tokens === 'object' ? meta.tokens : undefined);
    return new OnnxExplainableModel({
      program, runner, source, name: opts.name ?? meta.name ?? source.split(/[\\/]/).pop()!,
      labels: labelsOf(given, classes), preprocessing, targetLayer: target, tokens,
      graph: { nodes: model.graph.nodes, initializers: new Set(model.graph.initializers.keys()) },
    });
  } catch (e) {
    await runner.dispose();
    throw e;
  }
}

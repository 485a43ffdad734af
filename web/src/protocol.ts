/**
 * The messages between the page (`client.ts`) and the model worker (`worker.ts`). All model work —
 * loading, forward and backward passes, every CAM method — happens in the worker; the page only
 * decodes images, draws and handles input. New model formats or runtimes add a `ModelSource` case
 * (and a loader in the worker), nothing else.
 */
import type { ImageExplanation } from 'gradcam';

/** Where a model comes from. `default`: the dev server's copy of MobileNet v1 α=0.75, or the official hosted one in a build. `files`: what the user picked (model.json + shards + metadata.json, or one .keras/.h5/.onnx file). */
export type ModelSource =
  | { kind: 'default' }
  | { kind: 'url'; url: string; name?: string }
  | { kind: 'files'; files: File[]; folder?: string };

/** What the page needs to know about a loaded model (no tensors). */
export interface ModelInfo {
  /** Display name: metadata `name`, else the file or folder name. */
  name: string;
  source: string;
  format: string;
  labels: string[];
  /** Input [height, width]. */
  size: [number, number];
  /** Explainable layers with a spatial map (h×w > 1), in execution order. */
  layers: { name: string; type: string; shape: (number | null)[] }[];
  defaultLayer: string;
}

/** A CAM method as the page lists it. */
export interface MethodInfo { name: string; title: string; classSpecific: boolean; slow: boolean }

/** What to explain: a class, or a contrast ("why A rather than B": score = logit A − logit B). */
export type TargetRequest = { kind: 'class'; index: number } | { kind: 'contrast'; a: number; b: number };

export interface ExplainRequest {
  image: ImageData;
  method: string;
  layer: string;
  /** Explicit targets; with none, the top prediction. */
  targets: TargetRequest[];
  /** Also compute Guided Grad-CAM (the guided view). */
  guided: boolean;
  /** Masked inputs per forward pass for Score-CAM / Ablation-CAM (default 8). */
  batchSize?: number;
}

/** One explained target as the page shows it. */
export interface TargetView {
  /** e.g. `tiger cat`, or `tiger cat rather than bull mastiff`. */
  title: string;
  kind: TargetRequest['kind'];
  /** The class the map is about (A for a contrast). */
  classIndex: number;
  /** B for a contrast. */
  otherIndex?: number;
  /** Guided Grad-CAM, network input size, RGB; set when `guided` was asked. */
  guided?: { data: Float32Array; width: number; height: number };
}

export interface ExplainResult {
  explanation: ImageExplanation;
  /** Parallel to `explanation.targets`. */
  views: TargetView[];
  /** Milliseconds spent in the worker. */
  ms: number;
  warning: string | null;
}

export type ToWorker =
  | { type: 'init'; backend: string | null }
  | { type: 'load'; id: number; source: ModelSource }
  | { type: 'explain'; id: number; request: ExplainRequest }
  | { type: 'cancel'; id: number };

export type FromWorker =
  | { type: 'ready'; backend: string; device: string; methods: MethodInfo[] }
  | { type: 'loading'; id: number; fraction: number }
  | { type: 'loaded'; id: number; info: ModelInfo }
  | { type: 'progress'; id: number; done: number; total: number }
  | { type: 'result'; id: number; result: ExplainResult }
  | { type: 'cancelled'; id: number }
  | { type: 'error'; id: number; message: string }
  /** After each request: tensors alive in the worker (the model's weights and nothing else when idle). */
  | { type: 'memory'; tensors: number };

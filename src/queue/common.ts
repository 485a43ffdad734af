/**
 * What the enqueuing process and the workers agree on: the queue's name, the Redis connection, the
 * data of a job and of its result, and the deterministic job id.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ExplainJobOptions, ExplainOutput } from '../node/jobs.js';
import type { ExplanationJson } from '../render/json.js';
import type { Box, EvalResult, PerturbBaseline } from '../metrics/index.js';
import { GradcamError, type Preprocessing } from '../model/types.js';
import type { NodeBackend } from '../node/backend.js';

/** The BullMQ queue every `gradcam` command and worker uses (Redis keys `bull:gradcam-explain:*`). */
export const QUEUE_NAME = 'gradcam-explain';

/** How long a finished job (and its result) stays in Redis if nobody collects it; failed jobs stay as long. */
export const KEEP_SECONDS = 7 * 24 * 3600;

/** Checks a `--queue` URL. */
export function queueUrl(url: string): string {
  if (!/^rediss?:\/\/[^/\s]+/.test(url)) throw new GradcamError(`--queue '${url}' must be a Redis URL like redis://127.0.0.1:6379`);
  return url;
}

/** BullMQ connection options for a Redis URL. Workers and event listeners wait forever for Redis to come back. */
export function connection(url: string, { blocking = false } = {}) {
  return {
    url: queueUrl(url),
    // a worker or listener outlives Redis restarts: retry without bound, at most every 2 s
    maxRetriesPerRequest: blocking ? null : 20,
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
  };
}

/** The model a job is explained with: what `--model` and friends said, resolved so another machine can load it. */
export interface ModelSpec {
  /** URL, or an absolute path that must exist on every worker (a shared or identical folder). */
  model: string;
  backend: NodeBackend;
  /** Class names given with `--labels` (the file's content: workers need not see the file). */
  labels?: string[];
  preprocessing?: Partial<Preprocessing>;
  /** Content hash of model.json (and metadata.json) for a local model: part of the job id. */
  hash?: string;
}

/** What `eval --queue` asks of one image: `evaluate`'s options (plain data) and the image's boxes. */
export interface EvalJob {
  options: {
    methods: string[]; targets?: string[]; groups?: Record<string, number[]>; layer?: string; batchSize?: number;
    deletion?: { steps?: number; deletionBaseline?: PerturbBaseline; insertionBaseline?: PerturbBaseline };
    road?: { percentages?: number[] };
  };
  boxes?: Record<string, Box[]>;
}

/** What `audit --queue` asks of one image: the audit's options and the image's true class (from its folder), if any. */
export interface AuditJob {
  options: { method: string; layer: string; metrics: string[]; steps?: number };
  trueClass?: number;
}

/** A layer-resolution map in a job result (the enqueuer upsamples it to the image again). */
export interface JobGrid { data: number[]; width: number; height: number }

/** One explained target of an audited image, without its image-sized heatmap. */
export interface AuditTarget {
  classIndex: number; className: string; logit: number; probability: number; target: string; score: number;
  layer: string; cam: JobGrid; peak: { x: number; y: number } | null; noEvidence: boolean;
}

/**
 * The result of an `audit --queue` job, compact: the image's size, its predictions, the layer-resolution
 * maps of the predicted (and true) class, the border share, and the image's metric cases.
 */
export interface AuditJobResult {
  width: number;
  height: number;
  predicted: AuditTarget;
  truth?: AuditTarget;
  border: number;
  metrics?: EvalResult;
}

/** One job: one image, explained (default), evaluated (`eval`) or audited (`audit`). */
export interface ExplainJobData {
  /** The image's name as given to the enqueuing command (reported in the JSON's `image`). */
  file: string;
  /** The encoded image file, base64. */
  bytes: string;
  model: ModelSpec;
  options: ExplainJobOptions;
  eval?: EvalJob;
  audit?: AuditJob;
}

/** A job's result: the JSON report and the PNGs (base64), as {@link ExplainOutput}. */
export interface ExplainJobResult {
  json: ExplanationJson;
  files: { suffix: string; data: string }[];
}

export const toJobResult = (o: ExplainOutput): ExplainJobResult => ({ json: o.json, files: o.files.map((f) => ({ suffix: f.suffix, data: f.data.toString('base64') })) });
/** A job's result as the enqueuing command writes it: the image and model named as that command was given them. */
export const fromJobResult = (r: ExplainJobResult, file: string, model: string): ExplainOutput => ({
  json: { ...r.json, image: file, model },
  files: r.files.map((f) => ({ suffix: f.suffix, data: Buffer.from(f.data, 'base64') })),
});

/** The model part of a job: a local path made absolute and hashed by its model.json (+ metadata.json). */
export async function modelSpec(opts: { model: string; backend: NodeBackend; labels?: string[]; preprocessing?: Partial<Preprocessing> }): Promise<ModelSpec> {
  if (/^https?:\/\//.test(opts.model)) return { ...opts };
  const abs = path.resolve(opts.model);
  const info = await stat(abs).catch(() => undefined);
  if (!info) throw new GradcamError('no such model file or folder', opts.model);
  const dir = info.isDirectory() ? abs : path.dirname(abs);
  const hash = createHash('sha256');
  for (const f of [info.isDirectory() ? path.join(abs, 'model.json') : abs, path.join(dir, 'metadata.json')]) {
    hash.update(await readFile(f).catch(() => Buffer.alloc(0)));
  }
  return { ...opts, model: abs, hash: hash.digest('hex').slice(0, 16) };
}

/** Stable JSON: keys sorted, undefined dropped. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => a.localeCompare(b))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The job id: a hash of the image's content, the model and the options that change the outputs. The
 * same image with the same model and options is the same job, whatever its name or who enqueues it.
 */
export function jobId(bytes: Uint8Array, model: ModelSpec, options: ExplainJobOptions, evalJob?: EvalJob, auditJob?: AuditJob): string {
  const { batch: _batch, ...outputOptions } = options; // batch size changes speed, not results
  const content = createHash('sha256').update(bytes).digest('hex');
  const rest = createHash('sha256').update(canonical({ model, options: outputOptions, eval: evalJob, audit: auditJob })).digest('hex');
  return `x${content.slice(0, 24)}-${rest.slice(0, 16)}`;
}

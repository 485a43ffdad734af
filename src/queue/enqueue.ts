/**
 * `gradcam explain … --queue redis://…`: one job per image on the BullMQ queue, explained by
 * `gradcam worker`s anywhere; the results come back through Redis and this process writes them,
 * so workers need no shared filesystem and every file is written exactly once, by one process.
 *
 * Re-running skips finished work: a job's id is a hash of the image's content, the model and the
 * options, so an image already queued or done is not queued twice, and images whose outputs this
 * command already wrote (recorded in `<out>/.gradcam-queue`) are skipped.
 */
import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Job, Queue, QueueEvents } from 'bullmq';
import { writeOutput, type ExplainJobOptions } from '../node/jobs.js';
import {
  connection, fromJobResult, jobId, KEEP_SECONDS, QUEUE_NAME,
  type AuditJob, type EvalJob, type ExplainJobData, type ExplainJobResult, type ModelSpec,
} from './common.js';

/** The record of what an output folder holds: one `<job id> <stem>` line per written image. */
export const MANIFEST = '.gradcam-queue';

export interface QueuedRunOptions {
  url: string;
  out: string;
  model: ModelSpec;
  /** `--model` as the user gave it (the JSON's `model`, as a local run writes it). */
  modelName: string;
  options: ExplainJobOptions;
  /** Jobs in Redis at once from this run (their images travel in the job; default 256). */
  window?: number;
  /** Tries per image before it is failed (default 3), with exponential backoff from `backoffMs` (default 1 s). */
  attempts?: number;
  backoffMs?: number;
  /** Called once per image as it is finished, failed or skipped. */
  onProgress?: (e: { file: string; status: 'done' | 'failed' | 'skipped' }) => void;
  /** Called for an image that cannot be explained (a line `error: <file>: <problem>`). */
  onError?: (file: string, message: string) => void;
  /** `eval --queue`: each job evaluates its image (with its boxes) instead of explaining it. */
  eval?: { options: EvalJob['options']; boxesOf?: (file: string) => EvalJob['boxes'] };
  /** `audit --queue`: each job audits its image (with its true class) and returns an {@link AuditJobResult}. */
  audit?: { options: AuditJob['options']; trueClassOf?: (file: string) => number | undefined };
  /** Receives each finished image's result (file order index) instead of writing outputs: no files, no manifest, no skipping. */
  onResult?: (file: string, index: number, result: unknown) => Promise<void> | void;
}

export interface QueuedRunResult {
  /** Images whose outputs were written by this run. */
  done: number;
  /** Images skipped because this folder already holds their outputs for the same job. */
  skipped: number;
  failed: { file: string; error: string }[];
  /** Output files written (a file already holding the same bytes is not rewritten). */
  filesWritten: number;
}

interface Entry { file: string; stem: string; index: number }

async function readManifest(out: string): Promise<Map<string, string>> {
  const text = await readFile(path.join(out, MANIFEST), 'utf8').catch(() => '');
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [id, ...stem] = line.split(' ');
    if (id && stem.length) m.set(stem.join(' '), id);
  }
  return m;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Queues `files` (with their output stems) and waits until every one is written or failed.
 * A file that cannot be read is failed here; one that cannot be decoded or explained fails on a
 * worker (after no retry: bad input fails the same way every time) with its error text.
 */
export async function runQueued(files: string[], stems: string[], opts: QueuedRunOptions): Promise<QueuedRunResult> {
  const window = opts.window ?? 256;
  if (!opts.onResult) await mkdir(opts.out, { recursive: true });
  const manifest = opts.onResult ? new Map<string, string>() : await readManifest(opts.out);
  const queue = new Queue<ExplainJobData, unknown>(QUEUE_NAME, { connection: connection(opts.url) });
  const events = new QueueEvents(QUEUE_NAME, { connection: connection(opts.url, { blocking: true }) });
  const result: QueuedRunResult = { done: 0, skipped: 0, failed: [], filesWritten: 0 };
  const pending = new Map<string, Entry[]>(); // job id → the files waiting for it
  const collecting = new Set<string>();
  let wake: () => void = () => {};
  const changed = () => new Promise<void>((r) => { wake = r; });

  const fail = (e: Entry, error: string) => {
    const message = error.startsWith(`${e.file}: `) ? error.slice(e.file.length + 2) : error;
    result.failed.push({ file: e.file, error: message });
    opts.onError?.(e.file, message);
    opts.onProgress?.({ file: e.file, status: 'failed' });
  };

  /**
   * Writes (or reports) a finished job's images, each once; removes a completed job from Redis.
   * Anything that goes wrong leaves the job pending for the next sweep.
   */
  const collect = async (id: string) => {
    if (collecting.has(id) || !pending.has(id)) return;
    collecting.add(id);
    try {
      const state = await queue.getJobState(id);
      if (state === 'unknown') return void (await requeue(id));
      if (state !== 'completed' && state !== 'failed') return;
      const job = await Job.fromId<ExplainJobData, unknown>(queue, id); // read after the state: its result is there
      if (!job) return;
      const entries = pending.get(id)!;
      if (state === 'completed') {
        if (!job.returnvalue) return;
        while (entries.length) {
          const e = entries[0];
          let written = 0;
          if (opts.onResult) await opts.onResult(e.file, e.index, job.returnvalue);
          else {
            written = await writeOutput(opts.out, e.stem, fromJobResult(job.returnvalue as ExplainJobResult, e.file, opts.modelName));
            await appendFile(path.join(opts.out, MANIFEST), `${id} ${e.stem}\n`);
          }
          entries.shift();
          result.filesWritten += written;
          result.done++;
          opts.onProgress?.({ file: e.file, status: 'done' });
        }
        pending.delete(id);
        await job.remove().catch(() => {}); // its result is on disk now; the manifest remembers it
      } else {
        pending.delete(id);
        for (const e of entries) fail(e, job.failedReason || 'failed');
      }
    } finally {
      collecting.delete(id);
      wake();
    }
  };

  /** (Re)queues the job of the first file waiting for `id` (it vanished: cleaned away, or Redis lost it). */
  const requeue = async (id: string) => {
    const e = pending.get(id)?.[0];
    if (!e) return;
    const bytes = await readFile(e.file);
    await add(id, e, bytes);
  };

  const add = async (id: string, e: Entry, bytes: Buffer) => {
    const job = await queue.add(opts.eval ? 'eval' : opts.audit ? 'audit' : 'explain', { file: e.file, bytes: bytes.toString('base64'), model: opts.model, options: opts.options, eval: evalJob(e.file), audit: auditJob(e.file) }, {
      jobId: id,
      attempts: opts.attempts ?? 3,
      backoff: { type: 'exponential', delay: opts.backoffMs ?? 1000 },
      removeOnComplete: { age: KEEP_SECONDS },
      removeOnFail: { age: KEEP_SECONDS },
    });
    // the same job failed in an earlier run: try it again (a bad image fails again at once)
    if ((await job.getState()) === 'failed') await job.retry('failed');
  };

  const evalJob = (file: string): EvalJob | undefined => (opts.eval ? { options: opts.eval.options, boxes: opts.eval.boxesOf?.(file) } : undefined);
  const auditJob = (file: string): AuditJob | undefined => (opts.audit ? { options: opts.audit.options, trueClass: opts.audit.trueClassOf?.(file) } : undefined);

  const onEvent = ({ jobId: id }: { jobId: string }) => { if (pending.has(id)) void collect(id).catch(() => {}); };
  events.on('completed', onEvent);
  events.on('failed', onEvent);
  events.on('error', () => {}); // reconnects by itself; the sweep below covers missed events
  await events.waitUntilReady();

  // Events are the fast path; a sweep over the outstanding jobs covers events missed while Redis was away.
  let sweeping = true;
  const sweep = (async () => {
    while (sweeping) {
      await sleep(1000);
      for (const id of [...pending.keys()]) {
        if (!sweeping) break;
        try { await collect(id); } catch { /* Redis away: next sweep */ }
      }
    }
  })();

  try {
    for (const [i, file] of files.entries()) {
      const e = { file, stem: stems[i], index: i };
      let bytes: Buffer;
      try {
        const info = await stat(file);
        if (info.isDirectory()) throw new Error('is a folder, not an image');
        bytes = await readFile(file);
      } catch (err) {
        fail(e, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message);
        continue;
      }
      const id = jobId(bytes, opts.model, opts.options, evalJob(file), auditJob(file));
      if (!opts.onResult && manifest.get(e.stem) === id && (await stat(path.join(opts.out, `${e.stem}.json`)).catch(() => undefined))) {
        result.skipped++;
        opts.onProgress?.({ file, status: 'skipped' });
        continue;
      }
      const waiting = pending.get(id);
      if (waiting) { waiting.push(e); continue; } // same content twice: one job, both written
      while (pending.size >= window) await Promise.race([changed(), sleep(1000)]);
      pending.set(id, [e]);
      for (let tries = 0; ; tries++) {
        try { await add(id, e, bytes); break; } catch (err) { if (tries >= 30) throw err; await sleep(1000); }
      }
    }
    while (pending.size) await Promise.race([changed(), sleep(1000)]);
    const accounted = result.done + result.skipped + result.failed.length;
    if (accounted !== files.length) throw new Error(`internal error: ${files.length} images, ${accounted} accounted for`);
  } finally {
    sweeping = false;
    wake();
    await sweep;
    await events.close();
    await queue.close();
  }
  return result;
}

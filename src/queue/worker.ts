/**
 * `gradcam worker`: a BullMQ worker whose jobs run in sandboxed child processes (processor.ts), one
 * per unit of concurrency. Stops cleanly (finishing the jobs it holds) on SIGTERM/SIGINT.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'bullmq';
import { connection, QUEUE_NAME, type ExplainJobData, type ExplainJobResult } from './common.js';

export interface WorkerOptions {
  /** Redis URL. */
  url: string;
  /** Jobs at once, each in its own child process (default 1: one core). */
  concurrency?: number;
  /** How long a job's lock lasts without renewal (ms; default 30 s). A dead worker's job is taken over after about this long. */
  lockDuration?: number;
  /** A job whose worker died more often than this fails (default 2). */
  maxStalledCount?: number;
  /** Called for each finished job. */
  onJob?: (e: { id: string; file: string; ok: boolean; error?: string; ms: number }) => void;
}

const here = fileURLToPath(import.meta.url);

/** The processor file, beside this one: processor.ts run through tsx's loader, or processor.js in a compiled build. */
export const PROCESSOR_FILE = path.join(path.dirname(here), `processor${path.extname(here)}`);

/** Node flags for the child: tsx's loader by absolute URL (works from any folder) when the processor is TypeScript. */
export function childExecArgv(): string[] {
  if (!PROCESSOR_FILE.endsWith('.ts')) return [];
  const require = createRequire(import.meta.url);
  return ['--import', pathToFileURL(require.resolve('tsx')).href];
}

export function startWorker(opts: WorkerOptions): Worker<ExplainJobData, ExplainJobResult> {
  const lockDuration = opts.lockDuration ?? 30_000;
  const worker = new Worker<ExplainJobData, ExplainJobResult>(QUEUE_NAME, PROCESSOR_FILE, {
    connection: connection(opts.url, { blocking: true }),
    concurrency: opts.concurrency ?? 1,
    lockDuration,
    stalledInterval: Math.max(1000, Math.round(lockDuration / 2)),
    maxStalledCount: opts.maxStalledCount ?? 2,
    useWorkerThreads: false,
    workerForkOptions: { execArgv: childExecArgv() },
  });
  worker.on('completed', (job) => opts.onJob?.({ id: job.id!, file: job.data.file, ok: true, ms: (job.finishedOn ?? Date.now()) - (job.processedOn ?? Date.now()) }));
  worker.on('failed', (job, err) => {
    if (job) opts.onJob?.({ id: job.id!, file: job.data.file, ok: false, error: err.message, ms: (job.finishedOn ?? Date.now()) - (job.processedOn ?? Date.now()) });
  });
  worker.on('error', (e) => process.stderr.write(`warning: worker: ${e.message}\n`));
  return worker;
}

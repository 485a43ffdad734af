/**
 * `gradcam queue status|clean` for operators, and `explain --queue`: the queued run of the explain
 * command (see src/queue/enqueue.ts).
 */
import type { Command } from 'commander';
import { Queue } from 'bullmq';
import { checkJobOptions, type ExplainJobOptions } from '../node/jobs.js';
import { connection, modelSpec, QUEUE_NAME, queueUrl, type AuditJob, type EvalJob, type ModelSpec } from '../queue/common.js';
import { evaluateQueued } from '../queue/eval.js';
import { auditQueued } from '../queue/audit.js';
import type { AuditResult } from '../report/audit.js';
import type { RgbImage } from '../core/image.js';
import type { EvalResult, EvaluateOptions } from '../metrics/index.js';
import { runQueued } from '../queue/enqueue.js';
import { GradcamError, type ExplainableModel, type Preprocessing } from '../model/types.js';
import { resolveLayers } from '../core/explain.js';
import { cliTargets } from './targets.js';
import { expandInputs, openModel, positiveInt, progress, reportError, uniqueStems, type ModelOptions } from './common.js';

/** Adds `--queue <redis-url>` (and `--window`) to a command. */
export function withQueueOption(cmd: Command): Command {
  return cmd
    .option('--queue <redis-url>', 'queue one job per image on Redis for `gradcam worker`s instead of explaining here; results come back and are written here')
    .option('--window <n>', 'with --queue: jobs in Redis at once from this run', positiveInt('--window'), 256);
}

/** `explain … --queue`: checks the model and options here, queues, shows progress, writes the results. Returns the images written. */
export async function runQueuedExplain(inputs: string[], opts: ModelOptions & ExplainJobOptions & { out: string; queue: string; window?: number; mask?: string }): Promise<number> {
  queueUrl(opts.queue);
  checkJobOptions(opts);
  const specs = [...(opts.class ?? []), ...(opts.target ?? [])];
  // workers explain from the job alone: no files beside the image
  if (opts.mask) throw new GradcamError('--mask cannot be used with --queue (the workers cannot read the mask file); use segment:C with the model\'s own mask');
  if (specs.some((s) => /^similar:/i.test(s.trim()))) throw new GradcamError('similar:<image> targets cannot be used with --queue (the workers cannot read the reference images)');
  const model = await openModel(opts); // the model must load and know the targets and layers before anything is queued
  let labels: string[] | undefined;
  try {
    resolveLayers(model, opts.layer);
    await cliTargets(model, specs);
    if (opts.labels) labels = model.labels;
  } finally {
    model.dispose();
  }
  const spec = await queuedModel(opts, labels);
  const files = await expandInputs(inputs);
  if (!files.length) throw new GradcamError(`no images found in ${inputs.join(', ')}`);
  const options: ExplainJobOptions = {
    class: opts.class, target: opts.target, top: opts.top, method: opts.method, layer: opts.layer, colormap: opts.colormap, alpha: opts.alpha,
    counterfactual: opts.counterfactual, weights: opts.weights, augSmooth: opts.augSmooth, eigenSmooth: opts.eigenSmooth, guided: opts.guided,
  };
  const bar = progress(files.length, 'explaining on the queue');
  try {
    const r = await runQueued(files, uniqueStems(files), {
      url: opts.queue, out: opts.out, model: spec, modelName: opts.model, options, window: opts.window,
      onProgress: () => bar.tick(),
      onError: (file, message) => reportError(new GradcamError(message, file)),
    });
    bar.stop();
    process.stderr.write(`queue: ${r.done} written, ${r.skipped} already done, ${r.failed.length} failed, ${r.filesWritten} file(s) written\n`);
    return r.done + r.skipped;
  } finally {
    bar.stop();
  }
}

/** The model as the workers load it: `--model`, `--backend`, `--input-range`, `--resize`, and `--labels`' content. */
async function queuedModel(opts: ModelOptions, labels?: string[]): Promise<ModelSpec> {
  const preprocessing: Partial<Preprocessing> = {};
  if (opts.inputRange) preprocessing.range = opts.inputRange.split(',').map(Number) as [number, number];
  if (opts.resize) preprocessing.resize = opts.resize;
  return modelSpec({ model: opts.model, backend: opts.backend, labels, preprocessing });
}

/**
 * `eval … --queue`: every image evaluated by a worker, the cases merged here (see src/queue/eval.ts).
 * `model` is the command's loaded model (options and boxes are already checked against it).
 */
export async function runQueuedEval(
  files: string[], model: ExplainableModel, opts: ModelOptions & { queue: string; window?: number }, evalOpts: EvaluateOptions,
  boxesOf: (file: string) => EvalJob['boxes'],
): Promise<EvalResult | undefined> {
  const spec = await queuedModel(opts, opts.labels ? model.labels : undefined);
  const { result, run } = await evaluateQueued(files, {
    url: queueUrl(opts.queue), model: spec, modelName: opts.model, options: {}, window: opts.window,
    eval: {
      options: {
        methods: (evalOpts.methods ?? ['gradcam']).map((m) => (typeof m === 'string' ? m : m.name)),
        targets: evalOpts.targets?.map(String), groups: evalOpts.groups, layer: evalOpts.layer, batchSize: evalOpts.batchSize,
        deletion: evalOpts.deletion, road: evalOpts.road,
      },
      boxesOf,
    },
    onError: (file, message) => reportError(new GradcamError(message, file)),
  });
  process.stderr.write(`queue: ${run.done} evaluated, ${run.failed.length} failed\n`);
  return result;
}

/** `audit … --queue`: every image audited by a worker, the report assembled here (see src/queue/audit.ts). */
export async function runQueuedAudit(
  files: string[], images: RgbImage[], names: string[], truths: (number | undefined)[], model: ExplainableModel,
  opts: ModelOptions & { queue: string; window?: number }, audit: AuditJob['options'], onProgress: () => void,
): Promise<AuditResult> {
  const spec = await queuedModel(opts, opts.labels ? model.labels : undefined);
  const { result, run } = await auditQueued(files, images, names, truths, model, {
    url: queueUrl(opts.queue), model: spec, modelName: opts.model, options: {}, window: opts.window, audit,
    onProgress, onError: (file, message) => reportError(new GradcamError(message, file)),
  });
  process.stderr.write(`queue: ${run.done} audited, ${run.failed.length} failed\n`);
  return result;
}

async function withQueue<T>(url: string, f: (q: Queue) => Promise<T>): Promise<T> {
  const q = new Queue(QUEUE_NAME, { connection: connection(queueUrl(url)) });
  try { return await f(q); } finally { await q.close(); }
}

export function register(program: Command): void {
  const cmd = program.command('queue').description('inspect or clean the Redis job queue (`gradcam queue status|clean --queue <url>`)');
  cmd.command('status')
    .description('job counts, workers, and the most recent failures with their errors')
    .requiredOption('--queue <redis-url>', 'Redis URL')
    .option('--json', 'print JSON')
    .action(async (opts: { queue: string; json?: boolean }) => withQueue(opts.queue, async (q) => {
      const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
      const workers = await q.getWorkers();
      const failed = await q.getFailed(0, 19);
      const status = { queue: QUEUE_NAME, counts, workers: workers.length, failed: failed.map((j) => ({ id: j.id, file: j.data?.file, error: j.failedReason, attempts: j.attemptsMade })) };
      if (opts.json) return void process.stdout.write(JSON.stringify(status, null, 1) + '\n');
      process.stdout.write(`${QUEUE_NAME}: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}; workers ${workers.length}\n`);
      for (const f of status.failed) process.stdout.write(`failed ${f.id}: ${f.error}\n`);
    }));
  cmd.command('clean')
    .description('remove finished jobs (completed and failed; --all: every job, also waiting ones)')
    .requiredOption('--queue <redis-url>', 'Redis URL')
    .option('--all', 'remove the whole queue, waiting and active jobs too')
    .action(async (opts: { queue: string; all?: boolean }) => withQueue(opts.queue, async (q) => {
      if (opts.all) {
        await q.obliterate({ force: true });
        process.stderr.write(`removed every job of ${QUEUE_NAME}\n`);
        return;
      }
      let n = 0;
      for (const state of ['completed', 'failed'] as const) {
        for (;;) {
          const ids = await q.clean(0, 1000, state);
          n += ids.length;
          if (ids.length < 1000) break;
        }
      }
      process.stderr.write(`removed ${n} finished job(s) of ${QUEUE_NAME}\n`);
    }));
}


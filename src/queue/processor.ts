/**
 * The BullMQ sandboxed processor: runs in a child process of `gradcam worker` (one per unit of
 * `--concurrency`), so the CPU-bound explaining stays off the worker's event loop. It loads each
 * model once and explains one image per job with the same function as `gradcam explain`.
 */
import path from 'node:path';
import { UnrecoverableError, type SandboxedJob } from 'bullmq';
import { evaluate, type EvalResult } from '../metrics/index.js';
import { initBackend } from '../node/backend.js';
import { decodeImage } from '../node/image.js';
import { explainImages } from '../node/jobs.js';
import { loadModel } from '../node/load.js';
import { GradcamError, type ExplainableModel } from '../model/types.js';
import { auditImage } from './audit.js';
import { toJobResult, type AuditJobResult, type ExplainJobData, type ExplainJobResult, type ModelSpec } from './common.js';

// the worker that forked this process is gone (killed, crashed): do not linger as an orphan
process.on('disconnect', () => process.exit(1));

const models = new Map<string, Promise<ExplainableModel>>();

function open(spec: ModelSpec): Promise<ExplainableModel> {
  const key = JSON.stringify(spec);
  let m = models.get(key);
  if (!m) {
    m = (async () => {
      await initBackend(spec.backend);
      return loadModel(spec.model, { labels: spec.labels, preprocessing: spec.preprocessing });
    })();
    m.catch(() => models.delete(key));
    models.set(key, m);
  }
  return m;
}

export default async function explainJob(job: SandboxedJob<ExplainJobData, ExplainJobResult | EvalResult | AuditJobResult>): Promise<ExplainJobResult | EvalResult | AuditJobResult> {
  const { file, bytes, model: spec, options } = job.data;
  const model = await open(spec); // a model this machine cannot load is retried (with backoff), maybe elsewhere
  try {
    const image = await decodeImage(Buffer.from(bytes, 'base64'), file);
    if (job.data.audit) return await auditImage(model, image, path.basename(file), job.data.audit); // `audit --queue`: compact, merged by the enqueuer
    if (job.data.eval) {
      // `eval --queue`: the image's cases for every method (the enqueuing command merges them)
      return await evaluate(model, [{ image, name: path.basename(file), boxes: job.data.eval.boxes }], job.data.eval.options);
    }
    const [out] = await explainImages(model, [{ file, image }], { ...options, batch: 1 });
    return toJobResult(out);
  } catch (e) {
    // a bad image or option fails the same way every time: no retry, the error text is the failure
    if (e instanceof GradcamError) throw new UnrecoverableError(e.message);
    throw e;
  }
}

/**
 * `audit … --queue`: each image is audited by a worker (`audit` on that image alone, with its true
 * class and the report's metrics), which returns it compactly: the layer-resolution maps of the
 * predicted (and true) class, the border share and the image's metric cases. The
 * enqueuing command upsamples the maps onto its images again (the same `mapOnImage` as a local run),
 * groups and sorts the entries with the same `assembleAudit`, merges the metric cases like
 * `eval --queue`, and renders the same HTML page. As with `eval --queue`, the random baseline is
 * seeded per image, so its metric row differs slightly from a local run's; everything else is equal.
 */
import { inputRegion, type RgbImage } from '../core/image.js';
import { mapOnImage } from '../core/maps.js';
import type { Grid, TargetExplanation } from '../core/types.js';
import { resolveMethod } from '../explain.js';
import type { EvalResult, MetricName } from '../metrics/index.js';
import type { ExplainableModel } from '../model/types.js';
import { assembleAudit, audit, type AuditEntry, type AuditResult } from '../report/audit.js';
import type { AuditJob, AuditJobResult, AuditTarget } from './common.js';
import { runQueued, type QueuedRunOptions, type QueuedRunResult } from './enqueue.js';
import { mergeEval } from './eval.js';

const compact = (t: TargetExplanation): AuditTarget => ({
  classIndex: t.classIndex, className: t.className, logit: t.logit, probability: t.probability, target: t.target, score: t.score,
  layer: t.layer, cam: { data: Array.from(t.cam.data), width: t.cam.width, height: t.cam.height }, peak: t.peak, noEvidence: t.noEvidence,
});

/** A worker's side: audits one image and returns what the report needs of it. */
export async function auditImage(model: ExplainableModel, image: RgbImage, name: string, job: AuditJob): Promise<AuditJobResult> {
  let failure: unknown;
  const r = await audit(model, [{ name, image, trueClass: job.trueClass }], {
    method: job.options.method, layer: job.options.layer, batchSize: 1, metrics: job.options.metrics as MetricName[],
    deletion: job.options.steps === undefined ? undefined : { steps: job.options.steps },
    onError: (e) => { failure = e; },
  });
  const e = r.entries[0];
  if (!e) throw failure;
  return {
    width: image.width, height: image.height, predicted: compact(e.predicted), ...(e.truth ? { truth: compact(e.truth) } : {}),
    border: e.border, ...(r.metrics ? { metrics: r.metrics } : {}),
  };
}

/** The enqueuer's side: a worker's compact target as the report's target, its map upsampled onto the image again. */
function expand(t: AuditTarget, width: number, height: number, model: ExplainableModel): TargetExplanation {
  const cam: Grid = { data: Float32Array.from(t.cam.data), width: t.cam.width, height: t.cam.height };
  return {
    ...t, cam, rawCam: cam, explained: { name: t.target, classIndex: t.classIndex } as TargetExplanation['explained'],
    heatmap: mapOnImage(cam, width, height, inputRegion(width, height, model.preprocessing)),
  };
}

/**
 * Audits `images` (read here, for the page) on the queue: `model` is the enqueuing command's model
 * (labels, preprocessing), `trueClasses` the folder labels. Images that fail are reported through
 * `onError` and left out, like a local audit's bad files.
 */
export async function auditQueued(
  files: string[], images: RgbImage[], names: string[], trueClasses: (number | undefined)[], model: ExplainableModel,
  opts: Omit<QueuedRunOptions, 'onResult' | 'out' | 'audit'> & { audit: AuditJob['options'] },
): Promise<{ result: AuditResult; run: QueuedRunResult }> {
  const parts: (AuditJobResult | undefined)[] = files.map(() => undefined);
  const run = await runQueued(files, files.map((f) => f), {
    ...opts, out: '', audit: { options: opts.audit, trueClassOf: (f) => trueClasses[files.indexOf(f)] },
    onResult: (_file, index, result) => { parts[index] = result as AuditJobResult; },
  });
  const entries: AuditEntry[] = [];
  const metrics: EvalResult[] = [];
  parts.forEach((p, item) => {
    if (!p) return;
    const { width, height } = images[item];
    entries.push({
      item, name: names[item], trueClass: trueClasses[item], predicted: expand(p.predicted, width, height, model),
      ...(p.truth ? { truth: expand(p.truth, width, height, model) } : {}), border: p.border,
    });
    if (p.metrics) metrics.push(p.metrics);
  });
  const base = assembleAudit(entries, model.labels, resolveMethod(opts.audit.method), opts.audit.layer);
  return { result: { ...base, ...(metrics.length ? { metrics: mergeEval(metrics) } : {}) }, run };
}

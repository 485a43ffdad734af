/**
 * Auditing a dataset: where does the model look? Every image is explained once (its predicted
 * class, and its true class when known); the maps are grouped by predicted class, sorted by the
 * share of the map on the image border, averaged per class, and scored by the metrics from the
 * same explanations. Rendering (the CLI's HTML page) is left to the caller.
 */
import type { ImageInput } from '../core/image.js';
import type { CamMethod } from '../core/method.js';
import type { Grid, ImageExplanation, TargetExplanation } from '../core/types.js';
import { explain, resolveMethod } from '../explain.js';
import type { DeletionOptions } from '../metrics/deletion.js';
import { evaluate, type EvalResult, type MetricName } from '../metrics/evaluate.js';
import { borderShare } from '../metrics/pointing.js';
import type { ExplainableModel } from '../model/types.js';

/** One image to audit. */
export interface AuditItem {
  /** Shown in reports (e.g. the file name). */
  name: string;
  image: ImageInput;
  /** The true class, when known (e.g. from the folder name). */
  trueClass?: number;
}

/** One audited image. */
export interface AuditEntry {
  /** Index into the items. */
  item: number;
  name: string;
  trueClass?: number;
  /** The map of the predicted (top-1) class. */
  predicted: TargetExplanation;
  /** The map of the true class, when known. */
  truth?: TargetExplanation;
  /** Share of the predicted class's map on the image border (see `borderShare`). */
  border: number;
}

/** The images predicted as one class. */
export interface AuditGroup {
  classIndex: number;
  className: string;
  /** Sorted by border share, largest first: maps that lean on the frame, corners or background come first. */
  entries: AuditEntry[];
  /** The mean of the entries' layer-resolution maps, renormalised to [0, 1]. */
  meanMap: Grid;
  meanBorder: number;
  /** Entries with a true class, and how many of them are right. */
  labelled: number;
  correct: number;
}

/** The result of {@link audit}. */
export interface AuditResult {
  method: string;
  title: string;
  layer: string;
  entries: AuditEntry[];
  /** By number of images, then class index. */
  groups: AuditGroup[];
  /** Entries whose true class is known and not the predicted one. */
  misclassified: AuditEntry[];
  accuracy?: { correct: number; total: number };
  /** The metric table's data, from the same explanations (absent with `metrics: []`). */
  metrics?: EvalResult;
}

/** Options of {@link audit}. */
export interface AuditOptions {
  method?: string | CamMethod;
  layer?: string;
  /** Images per batch (default 8). */
  batchSize?: number;
  /** Metric families (default confidence and deletion; `[]` for none). */
  metrics?: MetricName[];
  deletion?: DeletionOptions;
  /** Called with a one-line warning (e.g. a fallback to the cpu backend). */
  onWarning?: (message: string) => void;
  /** A batch that could not be explained: each of its items is reported and skipped. */
  onError?: (error: unknown, item: AuditItem) => void;
  /** Called after each batch with the number of images done. */
  onProgress?: (done: number, total: number) => void;
}

/** The renormalised mean of same-sized maps. */
function meanMap(maps: Grid[]): Grid {
  const data = new Float32Array(maps[0].data.length);
  for (const m of maps) m.data.forEach((v, i) => { data[i] += v / maps.length; });
  const max = Math.max(...data, 1e-7);
  return { data: data.map((v) => v / max), width: maps[0].width, height: maps[0].height };
}

/**
 * The groups, misclassified images and accuracy of audited entries (in item order): what {@link audit}
 * returns without the metrics. `audit --queue` builds its result from the workers' entries with it.
 */
export function assembleAudit(entries: AuditEntry[], labels: string[], method: { name: string; title: string }, layer: string): Omit<AuditResult, 'metrics'> {
  const byClass = new Map<number, AuditEntry[]>();
  for (const e of entries) byClass.set(e.predicted.classIndex, [...(byClass.get(e.predicted.classIndex) ?? []), e]);
  const groups = [...byClass.entries()].sort((a, b) => b[1].length - a[1].length || a[0] - b[0]).map(([cls, list]): AuditGroup => {
    const sorted = [...list].sort((a, b) => b.border - a.border);
    const labelled = list.filter((e) => e.trueClass !== undefined);
    return {
      classIndex: cls, className: labels[cls], entries: sorted, meanMap: meanMap(list.map((e) => e.predicted.cam)),
      meanBorder: list.reduce((s, e) => s + e.border, 0) / list.length,
      labelled: labelled.length, correct: labelled.filter((e) => e.trueClass === cls).length,
    };
  });
  const labelled = entries.filter((e) => e.trueClass !== undefined);
  return {
    method: method.name, title: method.title, layer, entries, groups,
    misclassified: labelled.filter((e) => e.trueClass !== e.predicted.classIndex),
    ...(labelled.length ? { accuracy: { correct: labelled.filter((e) => e.trueClass === e.predicted.classIndex).length, total: labelled.length } } : {}),
  };
}

/** Audits a dataset (see the module comment). */
export async function audit(model: ExplainableModel, items: AuditItem[], opts: AuditOptions = {}): Promise<AuditResult> {
  const method = resolveMethod(opts.method);
  const layer = model.resolveLayer(opts.layer);
  const batch = Math.max(1, opts.batchSize ?? 8);
  const entries: AuditEntry[] = [];
  const explained: ImageExplanation[] = [];
  for (let start = 0; start < items.length; start += batch) {
    const chunk = items.slice(start, start + batch);
    try {
      const results = await explain(model, chunk.map((i) => i.image), {
        method, layer, targets: chunk.map((i) => (i.trueClass === undefined ? [] : [i.trueClass])), top: 1, batchSize: batch, onWarning: opts.onWarning,
      });
      results.forEach((r, k) => {
        const it = chunk[k];
        const predicted = r.targets.find((t) => t.classIndex === r.predictions[0].classIndex)!;
        entries.push({
          item: start + k, name: it.name, trueClass: it.trueClass, predicted,
          truth: r.targets.find((t) => t.classIndex === it.trueClass), border: borderShare(predicted.heatmap),
        });
        explained.push({ ...r, targets: [predicted] });
      });
    } catch (e) {
      chunk.forEach((it) => opts.onError?.(e, it));
    }
    opts.onProgress?.(Math.min(start + batch, items.length), items.length);
  }
  const metrics = opts.metrics ?? ['confidence', 'deletion'];
  return {
    ...assembleAudit(entries, model.labels, method, layer),
    ...(metrics.length && entries.length ? {
      metrics: await evaluate(model, entries.map((e) => ({ image: items[e.item].image, name: e.name })), {
        methods: [method], explained, layer, batchSize: batch, metrics, deletion: opts.deletion, onWarning: opts.onWarning,
      }),
    } : {}),
  };
}

/**
 * `gradcam audit`: where does the model look across a whole dataset? One self-contained HTML page
 * (images inlined as data URIs, no external assets): per predicted class, thumbnails with overlays
 * sorted by how much of the map lies on the image border, the class's mean map, misclassified images
 * with the maps of the predicted and the true class (labels from folder names), and the metric table.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import sharp from 'sharp';
import type { TargetExplanation } from '../core/types.js';
import type { RgbImage } from '../core/image.js';
import { getMethod } from '../methods/index.js';
import type { ExplainableModel } from '../model/types.js';
import { METRICS, metricRows, type MetricName } from '../metrics/index.js';
import { audit, type AuditResult } from '../report/audit.js';
import { escapeHtml } from '../render/html.js';
import { colorize, overlay } from '../render/overlay.js';
import { resolveClass } from '../targets/index.js';
import { runQueuedAudit, withQueueOption } from './queue.js';
import { expandInputs, openModel, positiveInt, progress, readImages, reportError, withModelOptions, type ModelOptions } from './common.js';

export interface AuditCliOptions extends ModelOptions {
  method: string;
  layer: string;
  out: string;
  batch: number;
  steps: number;
  metrics: string;
  queue?: string;
  window?: number;
}

const esc = escapeHtml;

/** The class a file's folder names (its parent folder below a dataset root given on the command line), if any. */
async function folderClasses(inputs: string[], files: string[], model: ExplainableModel): Promise<(number | undefined)[]> {
  const roots: string[] = [];
  for (const a of inputs) if ((await stat(a).catch(() => undefined))?.isDirectory()) roots.push(path.resolve(a));
  return files.map((f) => {
    const dir = path.dirname(path.resolve(f));
    if (!roots.some((r) => dir.startsWith(r + path.sep))) return undefined;
    try {
      return resolveClass(path.basename(dir), model.labels);
    } catch {
      return undefined;
    }
  });
}

/** An RGB image (optionally scaled to `max` px on its long side) as a data URI. */
async function dataUri(img: RgbImage, max: number, format: 'jpeg' | 'png' = 'jpeg'): Promise<string> {
  const s = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(max, max, { fit: 'inside', kernel: img.width < max ? 'cubic' : 'lanczos3' });
  const buf = format === 'jpeg' ? await s.jpeg({ quality: 80 }).toBuffer() : await s.png().toBuffer();
  return `data:image/${format};base64,${buf.toString('base64')}`;
}

const pct = (v: number) => `${(100 * v).toFixed(0)} %`;

async function figure(image: RgbImage, name: string, t: TargetExplanation, caption: string): Promise<string> {
  const uri = await dataUri(overlay(image, t.heatmap, { alpha: 0.5 }), 220);
  return `<figure><img src="${uri}" alt="${esc(name)}"><figcaption>${caption}</figcaption></figure>`;
}

/** The whole report as one HTML string. */
async function renderHtml(r: AuditResult, images: RgbImage[], model: ExplainableModel, opts: AuditCliOptions, table: string): Promise<string> {
  const sections: string[] = [];
  for (const g of r.groups) {
    const meanUri = await dataUri(colorize(g.meanMap), 160, 'png');
    const figures = await Promise.all(g.entries.map((e) => figure(images[e.item], e.name, e.predicted,
      `${esc(e.name)}<br>p ${e.predicted.probability.toFixed(2)} · border ${pct(e.border)}${e.trueClass !== undefined && e.trueClass !== g.classIndex ? ` · <b class="bad">true: ${esc(model.labels[e.trueClass])}</b>` : ''}`)));
    sections.push(`<section class="cls" id="class-${g.classIndex}"><h3>${esc(g.className)} <small>(${g.classIndex}) · ${g.entries.length} image(s)${g.labelled ? ` · ${g.correct}/${g.labelled} labelled correct` : ''} · mean border share ${pct(g.meanBorder)}</small></h3>
<div class="row"><figure class="mean"><img src="${meanUri}" alt="mean map of ${esc(g.className)}"><figcaption>mean map</figcaption></figure>${figures.join('')}</div></section>`);
  }
  const wrong = r.misclassified;
  const wrongRows = await Promise.all(wrong.map(async (e) => `<div class="row pair"><div class="name">${esc(e.name)}</div>${await figure(images[e.item], e.name, e.predicted,
    `predicted <b>${esc(e.predicted.className)}</b> (p ${e.predicted.probability.toFixed(2)})`)}${await figure(images[e.item], e.name, e.truth!, `true <b>${esc(e.truth!.className)}</b> (p ${e.truth!.probability.toFixed(2)})`)}</div>`));
  const labelled = r.accuracy ? [r.accuracy] : [];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gradcam audit</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { margin: 0 0 4px; } h3 small { font-weight: normal; color: #666; }
.row { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
figure { margin: 0; width: 220px; } figure img { max-width: 220px; max-height: 220px; display: block; border: 1px solid #ccc; }
figure.mean { width: 160px; } figcaption { font-size: 12px; color: #444; }
.bad { color: #b00; } .pair { border-top: 1px solid #eee; padding: 8px 0; } .name { width: 160px; font-weight: bold; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; } td:first-child, th:first-child { text-align: left; }
nav a { margin-right: 10px; }
</style></head><body>
<h1>Where the model looks</h1>
<p>Model <code>${esc(opts.model)}</code> · method ${esc(r.title)} · layer <code>${esc(r.layer)}</code> · ${r.entries.length} image(s)${r.accuracy ? ` · accuracy ${r.accuracy.correct}/${r.accuracy.total} (labels from folder names)` : ''}.
Within each predicted class, images are sorted by the share of the map on the image border (the outer eighth on each side): maps that lean on the frame, corners or background come first.</p>
<nav>${r.groups.map((g) => `<a href="#class-${g.classIndex}">${esc(g.className)} (${g.entries.length})</a>`).join('')}</nav>
<h2>Metrics</h2>
${table}
<h2>By predicted class</h2>
${sections.join('\n')}
<h2 id="misclassified">Misclassified (${wrong.length})</h2>
${wrong.length ? wrongRows.join('\n') : `<p>${labelled.length ? 'None.' : 'No labels: put images in folders named after their class (a label or an index).'}</p>`}
</body></html>
`;
}

/** The metric table as HTML. */
function tableHtml(header: string[], rows: string[][]): string {
  return `<table><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c.replace(/\*/g, ''))}</td>`).join('')}</tr>`).join('')}</table>`;
}

export async function runAudit(inputs: string[], opts: AuditCliOptions): Promise<number> {
  const method = getMethod(opts.method);
  const metrics = opts.metrics === 'none' ? [] : opts.metrics.split(',').map((m) => m.trim()) as MetricName[];
  const unknown = metrics.filter((m) => !METRICS.includes(m));
  if (unknown.length) throw new Error(`unknown metric '${unknown[0]}'; metrics: ${METRICS.join(', ')}, or none`);
  const model = await openModel(opts);
  try {
    const layer = model.resolveLayer(opts.layer);
    const files = await expandInputs(inputs);
    if (!files.length) throw new Error(`no images found in ${inputs.join(', ')}`);
    const truths = await folderClasses(inputs, files, model);
    const bar = progress(files.length, `auditing (${method.name})`);
    const good = await readImages(files, () => bar.tick());
    const items = good.map((g) => ({ name: path.basename(g.file), image: g.image, trueClass: truths[g.index], file: g.file }));
    let ticked = 0;
    const result = opts.queue
      ? await runQueuedAudit(items.map((i) => i.file), items.map((i) => i.image), items.map((i) => i.name), items.map((i) => i.trueClass), model,
        { ...opts, queue: opts.queue }, { method: method.name, layer, metrics, steps: opts.steps }, () => bar.tick())
      : await audit(model, items, {
      method, layer, batchSize: opts.batch, metrics, deletion: { steps: opts.steps },
      onWarning: (m) => process.stderr.write(`warning: ${m}\n`),
      onError: (e, it) => reportError(e, (it as typeof items[number]).file),
      onProgress: (done) => { bar.tick(done - ticked); ticked = done; },
    });
    bar.stop();
    if (!result.entries.length) return 0;
    let table = '<p>No metrics computed (<code>--metrics none</code>).</p>';
    if (result.metrics) {
      const { header, rows } = metricRows(result.metrics);
      const keep = header.map((h, i) => rows.some((r) => r[i] !== '–') || i === 0);
      table = tableHtml(header.filter((_, i) => keep[i]), rows.map((r) => r.filter((_, i) => keep[i])));
    }
    await mkdir(opts.out, { recursive: true });
    const html = await renderHtml(result, items.map((i) => i.image), model, opts, table);
    await writeFile(path.join(opts.out, 'index.html'), html);
    return result.entries.length;
  } finally {
    model.dispose();
  }
}

export function register(program: Command): void {
  withQueueOption(withModelOptions(program.command('audit')
    .description('a self-contained HTML report of where the model looks across a dataset (folders named by class give labels)')
    .argument('<images...>', 'a dataset folder (class-named subfolders) or image files')
    .option('--method <name>', 'CAM method (see `gradcam methods`)', 'gradcam')
    .option('-l, --layer <name>', "layer to explain, or 'auto'", 'auto')
    .option('-o, --out <dir>', 'output folder (index.html)', 'report')
    .option('-b, --batch <n>', 'images per batch', positiveInt('--batch'), 8)
    .option('--metrics <list>', `metric table: comma-separated ${METRICS.filter((m) => m !== 'pointing').join(', ')}, or none`, 'confidence,deletion')
    .option('--steps <n>', 'deletion/insertion steps', positiveInt('--steps'), 20)))
    .action(async (images: string[], opts: AuditCliOptions) => {
      const n = await runAudit(images, opts);
      process.stderr.write(`audited ${n} image(s) → ${path.join(opts.out, 'index.html')}\n`);
    });
}

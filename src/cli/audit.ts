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
import type { Grid, TargetExplanation } from '../core/types.js';
import { explain } from '../explain.js';
import type { RgbImage } from '../core/image.js';
import { getMethod } from '../methods/index.js';
import type { ExplainableModel } from '../model/types.js';
import { borderShare, evaluate, METRICS, metricRows, type MetricName } from '../metrics/index.js';
import { colorize, overlay } from '../render/overlay.js';
import { resolveClass } from '../targets/index.js';
import { expandInputs, openModel, positiveInt, progress, readImages, reportError, withModelOptions, type ModelOptions } from './common.js';

export interface AuditCliOptions extends ModelOptions {
  method: string;
  layer: string;
  out: string;
  batch: number;
  steps: number;
  metrics: string;
}

interface Item {
  file: string;
  image: RgbImage;
  /** From the folder name, when it names a class. */
  trueClass?: number;
  predicted: TargetExplanation;
  truth?: TargetExplanation;
  border: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

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

/** The mean of same-sized layer-resolution maps, renormalised to [0, 1]. */
function meanMap(maps: Grid[]): Grid {
  const data = new Float32Array(maps[0].data.length);
  for (const m of maps) m.data.forEach((v, i) => { data[i] += v / maps.length; });
  const max = Math.max(...data, 1e-7);
  return { data: data.map((v) => v / max), width: maps[0].width, height: maps[0].height };
}

const pct = (v: number) => `${(100 * v).toFixed(0)} %`;

async function figure(item: Item, t: TargetExplanation, caption: string): Promise<string> {
  const uri = await dataUri(overlay(item.image, t.heatmap, { alpha: 0.5 }), 220);
  return `<figure><img src="${uri}" alt="${esc(path.basename(item.file))}"><figcaption>${caption}</figcaption></figure>`;
}

/** The whole report as one HTML string. */
async function renderHtml(items: Item[], model: ExplainableModel, opts: AuditCliOptions, table: string, layer: string, method: string): Promise<string> {
  const byClass = new Map<number, Item[]>();
  for (const it of items) byClass.set(it.predicted.classIndex, [...(byClass.get(it.predicted.classIndex) ?? []), it]);
  const classes = [...byClass.entries()].sort((a, b) => b[1].length - a[1].length || a[0] - b[0]);
  const sections: string[] = [];
  for (const [cls, list] of classes) {
    list.sort((a, b) => b.border - a.border);
    const mean = meanMap(list.map((i) => i.predicted.cam));
    const meanUri = await dataUri(colorize(mean), 160, 'png');
    const labelled = list.filter((i) => i.trueClass !== undefined);
    const correct = labelled.filter((i) => i.trueClass === cls).length;
    const figures = await Promise.all(list.map((i) => figure(i, i.predicted,
      `${esc(path.basename(i.file))}<br>p ${i.predicted.probability.toFixed(2)} · border ${pct(i.border)}${i.trueClass !== undefined && i.trueClass !== cls ? ` · <b class="bad">true: ${esc(model.labels[i.trueClass])}</b>` : ''}`)));
    sections.push(`<section class="cls" id="class-${cls}"><h3>${esc(model.labels[cls])} <small>(${cls}) · ${list.length} image(s)${labelled.length ? ` · ${correct}/${labelled.length} labelled correct` : ''} · mean border share ${pct(list.reduce((s, i) => s + i.border, 0) / list.length)}</small></h3>
<div class="row"><figure class="mean"><img src="${meanUri}" alt="mean map of ${esc(model.labels[cls])}"><figcaption>mean map</figcaption></figure>${figures.join('')}</div></section>`);
  }
  const wrong = items.filter((i) => i.trueClass !== undefined && i.trueClass !== i.predicted.classIndex);
  const wrongRows = await Promise.all(wrong.map(async (i) => `<div class="row pair"><div class="name">${esc(path.basename(i.file))}</div>${await figure(i, i.predicted,
    `predicted <b>${esc(i.predicted.className)}</b> (p ${i.predicted.probability.toFixed(2)})`)}${await figure(i, i.truth!, `true <b>${esc(i.truth!.className)}</b> (p ${i.truth!.probability.toFixed(2)})`)}</div>`));
  const labelled = items.filter((i) => i.trueClass !== undefined);
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
<p>Model <code>${esc(opts.model)}</code> · method ${esc(method)} · layer <code>${esc(layer)}</code> · ${items.length} image(s)${labelled.length ? ` · accuracy ${labelled.filter((i) => i.trueClass === i.predicted.classIndex).length}/${labelled.length} (labels from folder names)` : ''}.
Within each predicted class, images are sorted by the share of the map on the image border (the outer eighth on each side): maps that lean on the frame, corners or background come first.</p>
<nav>${classes.map(([cls, l]) => `<a href="#class-${cls}">${esc(model.labels[cls])} (${l.length})</a>`).join('')}</nav>
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
    const items: Item[] = [];
    for (let start = 0; start < files.length; start += opts.batch) {
      const chunk = files.slice(start, start + opts.batch);
      const good = await readImages(chunk);
      const truth = good.map((g) => truths[files.indexOf(g.file)]);
      try {
        const results = await explain(model, good.map((g) => g.image), {
          method, layer, targets: truth.map((t) => (t === undefined ? [] : [t])), top: 1, batchSize: opts.batch,
          onWarning: (m) => process.stderr.write(`warning: ${m}\n`),
        });
        results.forEach((r, i) => {
          const predicted = r.targets.find((t) => t.classIndex === r.predictions[0].classIndex)!;
          items.push({ ...good[i], trueClass: truth[i], predicted, truth: r.targets.find((t) => t.classIndex === truth[i]), border: borderShare(predicted.heatmap) });
        });
      } catch (e) {
        good.forEach((g) => reportError(e, g.file));
      }
      bar.tick(chunk.length);
    }
    bar.stop();
    if (!items.length) return 0;
    let table = '<p>No metrics computed (<code>--metrics none</code>).</p>';
    if (metrics.length) {
      const result = await evaluate(model, items.map((i) => ({ image: i.image, name: path.basename(i.file) })), {
        methods: [method.name], layer, batchSize: opts.batch, metrics, deletion: { steps: opts.steps },
      });
      const { header, rows } = metricRows(result);
      const keep = header.map((h, i) => rows.some((r) => r[i] !== '–') || i === 0);
      table = tableHtml(header.filter((_, i) => keep[i]), rows.map((r) => r.filter((_, i) => keep[i])));
    }
    await mkdir(opts.out, { recursive: true });
    const html = await renderHtml(items, model, opts, table, layer, method.title);
    await writeFile(path.join(opts.out, 'index.html'), html);
    return items.length;
  } finally {
    model.dispose();
  }
}

export function register(program: Command): void {
  withModelOptions(program.command('audit')
    .description('a self-contained HTML report of where the model looks across a dataset (folders named by class give labels)')
    .argument('<images...>', 'a dataset folder (class-named subfolders) or image files')
    .option('--method <name>', 'CAM method (see `gradcam methods`)', 'gradcam')
    .option('-l, --layer <name>', "layer to explain, or 'auto'", 'auto')
    .option('-o, --out <dir>', 'output folder (index.html)', 'report')
    .option('-b, --batch <n>', 'images per batch', positiveInt('--batch'), 8)
    .option('--metrics <list>', `metric table: comma-separated ${METRICS.filter((m) => m !== 'pointing').join(', ')}, or none`, 'confidence,deletion')
    .option('--steps <n>', 'deletion/insertion steps', positiveInt('--steps'), 20))
    .action(async (images: string[], opts: AuditCliOptions) => {
      const n = await runAudit(images, opts);
      process.stderr.write(`audited ${n} image(s) → ${path.join(opts.out, 'index.html')}\n`);
    });
}

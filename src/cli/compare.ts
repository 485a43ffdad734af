/**
 * `gradcam compare <image>`: one PNG grid, a row per class — the image, then every method's overlay
 * and Guided Grad-CAM, each titled.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import sharp from 'sharp';
import type { RgbImage } from '../core/image.js';
import { getMethod, methods } from '../methods/index.js';
import { readImage } from '../node/image.js';
import { colormapTable, type ColormapName } from '../render/colormap.js';
import { escapeHtml } from '../render/html.js';
import { compareGrid } from '../report/compare.js';
import { resolveLayers } from '../core/explain.js';
import { openModel, positiveInt, withModelOptions, type ModelOptions } from './common.js';
import { withMapOptions } from './explain.js';
import { cliTargets } from './targets.js';

export interface CompareCliOptions extends ModelOptions {
  class: string[];
  target: string[];
  mask?: string;
  methods: string;
  layer: string[];
  out: string;
  batch: number;
  colormap: ColormapName;
  alpha: number;
  guided: boolean;
}

const TILE_H = 224;
const TITLE_H = 22;
const GAP = 4;

const png = (img: RgbImage, width: number, height: number) =>
  sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' }).png().toBuffer();

/**
 * Explains `file` with every method (or `opts.methods`, comma-separated) and writes
 * `<out>/<stem>.compare.png`. Returns the path and the grid's titles, row by row.
 */
export async function runCompare(file: string, opts: CompareCliOptions): Promise<{ file: string; titles: string[][] }> {
  const names = opts.methods === 'all' ? Object.keys(methods) : opts.methods.split(',').map((s) => s.trim()).filter(Boolean);
  names.forEach(getMethod);
  colormapTable(opts.colormap);
  const image = await readImage(file);
  const model = await openModel(opts);
  try {
    const targets = await cliTargets(model, [...opts.class, ...opts.target], opts.mask);
    const grid = await compareGrid(model, image, {
      methods: names, targets, layer: resolveLayers(model, opts.layer), batchSize: opts.batch, guided: opts.guided,
      colormap: opts.colormap, alpha: opts.alpha,
      onWarning: (m) => process.stderr.write(`warning: ${m}\n`), onMethod: (t) => process.stderr.write(`${t}…\n`),
    });
    const rows = grid.map((row) => row.map((c) => ({ title: c.title, tile: c.image })));

    const tileW = Math.round((TILE_H * image.width) / image.height);
    const cols = Math.max(...rows.map((r) => r.length));
    const width = cols * tileW + (cols + 1) * GAP;
    const height = rows.length * (TILE_H + TITLE_H + GAP) + GAP;
    const pos = (r: number, c: number) => ({ left: GAP + c * (tileW + GAP), top: GAP + r * (TILE_H + TITLE_H + GAP) });
    const tiles = await Promise.all(rows.flatMap((row, r) => row.map(async (cell, c) => {
      const { left, top } = pos(r, c);
      return { input: await png(cell.tile, tileW, TILE_H), left, top: top + TITLE_H };
    })));
    const labels = rows.flatMap((row, r) => row.map((cell, c) => {
      const { left, top } = pos(r, c);
      return `<text x="${left + tileW / 2}" y="${top + TITLE_H - 6}" text-anchor="middle"${c === 0 ? ' font-weight="bold"' : ''}>${escapeHtml(cell.title)}</text>`;
    }));
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, Liberation Sans, sans-serif" font-size="13" fill="#222">${labels.join('')}</svg>`;
    await mkdir(opts.out, { recursive: true });
    const out = path.join(opts.out, `${path.basename(file).replace(/\.[^.]+$/, '')}.compare.png`);
    await sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
      .composite([...tiles, { input: Buffer.from(svg), left: 0, top: 0 }]).png().toFile(out);
    return { file: out, titles: rows.map((row) => row.map((c) => c.title)) };
  } finally {
    model.dispose();
  }
}

export function register(program: Command): void {
  withModelOptions(withMapOptions(program.command('compare')
    .description('one PNG grid: the image and every method\'s overlay side by side (a row per class)')
    .argument('<image>', 'image file'))
    .option('--methods <list>', "comma-separated methods, or 'all'", 'all')
    .option('-o, --out <dir>', 'output folder (writes <stem>.compare.png)', 'out')
    .option('-b, --batch <n>', 'forward passes per batch for Score-CAM / Ablation-CAM', positiveInt('--batch'), 32)
    .option('--no-guided', 'leave out the Guided Grad-CAM tile'))
    .action(async (image: string, opts: CompareCliOptions) => {
      const { file } = await runCompare(image, opts);
      process.stderr.write(`wrote ${file}\n`);
    });
}

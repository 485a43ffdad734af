/** What the CLI commands share: model/backend options, input expansion, progress and error reporting. */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { initBackend, type NodeBackend } from '../node/backend.js';
import type { RgbImage } from '../core/image.js';
import { IMAGE_EXTENSIONS, readImage } from '../node/image.js';
import { loadModel } from '../node/load.js';
import { DEFAULT_MODEL_URL } from '../model/load.js';
import { GradcamError, type ExplainableModel, type Preprocessing } from '../model/types.js';

/** Options every model-using command has. */
export interface ModelOptions {
  model: string;
  backend: NodeBackend;
  labels?: string;
  inputRange?: string;
  resize?: Preprocessing['resize'];
}

/** Adds `--model`, `--backend`, `--labels`, `--input-range` and `--resize` to a command. */
export function withModelOptions(cmd: Command): Command {
  return cmd
    .option('-m, --model <dir|file|url>', 'model folder, model.json, Keras .keras/.h5 file, or http(s) URL (cached)', DEFAULT_MODEL_URL)
    .option('--backend <name>', 'wasm (default) or cpu', 'wasm')
    .option('--labels <file|list>', 'class names: JSON array or text file (one per line), or an inline comma list "cat,dog"')
    .option('--input-range <lo,hi>', 'pixel range the model expects, e.g. -1,1 or 0,1 (default: from metadata.json / model kind)')
    .option('--resize <mode>', 'squash (whole image) or crop (central crop)');
}

/** Initialises the backend and loads the model of a command's options. */
export async function openModel(opts: ModelOptions): Promise<ExplainableModel> {
  if (opts.backend !== 'wasm' && opts.backend !== 'cpu') throw new GradcamError(`unknown backend '${opts.backend}'; backends: wasm, cpu`);
  await initBackend(opts.backend);
  const preprocessing: Partial<Preprocessing> = {};
  if (opts.inputRange) {
    const r = opts.inputRange.split(',').map(Number);
    if (r.length !== 2 || r.some((v) => !Number.isFinite(v))) throw new GradcamError(`--input-range '${opts.inputRange}' must be two numbers like -1,1`);
    preprocessing.range = [r[0], r[1]];
  }
  if (opts.resize) {
    if (opts.resize !== 'squash' && opts.resize !== 'crop') throw new GradcamError(`--resize '${opts.resize}' must be squash or crop`);
    preprocessing.resize = opts.resize;
  }
  let labels: string[] | undefined;
  if (opts.labels) {
    const { readFile } = await import('node:fs/promises');
    const { existsSync } = await import('node:fs');
    if (!existsSync(opts.labels) && opts.labels.includes(',')) {
      labels = opts.labels.split(',').map((l) => l.trim()); // inline list: --labels "Early blight,Late blight,healthy"
    } else {
      const text = await readFile(opts.labels, 'utf8').catch(() => { throw new GradcamError('cannot read labels file (or give an inline comma list)', opts.labels); });
      labels = text.trim().startsWith('[') ? (JSON.parse(text) as string[]) : text.split('\n').map((l) => l.trim()).filter(Boolean);
    }
  }
  return loadModel(opts.model, { labels, preprocessing, onWarning: (m) => process.stderr.write(`warning: ${m}\n`) });
}


/**
 * Expands the command's arguments into image paths: files as given (so that a bad file is
 * reported), folders recursively by image extension, sorted.
 */
export async function expandInputs(args: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (IMAGE_EXTENSIONS.test(e.name)) out.push(p);
    }
  };
  for (const a of args) {
    const info = await stat(a).catch(() => undefined);
    if (info?.isDirectory()) await walk(a);
    else out.push(a);
  }
  return out;
}

/** Output file stems for inputs, unique even when two folders hold the same file name. */
export function uniqueStems(files: string[]): string[] {
  const seen = new Map<string, number>();
  return files.map((f) => {
    const stem = path.basename(f).replace(/\.[^.]+$/, '');
    const n = (seen.get(stem) ?? 0) + 1;
    seen.set(stem, n);
    return n === 1 ? stem : `${stem}-${n}`;
  });
}

/**
 * A progress bar on stderr for multi-item work (silent when stderr is not a terminal or there is one item).
 * `fields` adds tokens to the bar (e.g. ` loss {loss}`), filled from `tick`'s payload.
 */
export function progress(total: number, label: string, fields = ''): { tick(n?: number, payload?: Record<string, string>): void; stop(): void } {
  if (total < 2 || !process.stderr.isTTY) return { tick() {}, stop() {} };
  const bar = new SingleBar({ format: `${label} [{bar}] {value}/{total} {percentage}%${fields} eta {eta_formatted}`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  bar.start(total, 0, Object.fromEntries([...fields.matchAll(/\{(\w+)\}/g)].map((m) => [m[1], '–'])));
  return { tick: (n = 1, payload) => bar.increment(n, payload), stop: () => bar.stop() };
}

/** Prints one line for a failed item and remembers that the command must exit non-zero. */
export function reportError(e: unknown, file?: string): void {
  const msg = e instanceof GradcamError ? e.message : `${file ? `${file}: ` : ''}${(e as Error)?.message?.split('\n')[0] ?? String(e)}`;
  process.stderr.write(`error: ${msg}\n`);
  process.exitCode = 1;
}

/** Parses a positive integer option. */
export function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new GradcamError(`${name} must be a positive integer, got '${v}'`);
    return n;
  };
}

/**
 * Decodes images concurrently, reporting each bad file in one line (see {@link reportError}) and
 * calling `onBad` for it; returns the good ones in their order, with their index in `files`.
 */
export async function readImages(files: string[], onBad?: (file: string) => void): Promise<{ file: string; index: number; image: RgbImage }[]> {
  const decoded = await Promise.all(files.map(async (file, index) => {
    try {
      return { file, index, image: await readImage(file) };
    } catch (e) {
      reportError(e, file);
      onBad?.(file);
      return undefined;
    }
  }));
  return decoded.filter((d): d is NonNullable<typeof d> => !!d);
}

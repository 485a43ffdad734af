/**
 * Synthetic datasets where the right answer is known: simple objects pasted at random positions on
 * random crops of photos. Used to check the train-then-explain loop end to end (does the model look
 * at the object?) and, with a deliberate shortcut (a class-specific mark in a corner), that Grad-CAM
 * exposes a model that learned the shortcut instead of the object.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { seededRandom } from '../../core/random.js';

/** Objects that can be drawn. */
export type ShapeName = 'rings' | 'checker' | 'triangle' | 'cross';

/** Corner marks for the shortcut dataset. */
export type MarkName = 'stamp' | 'dot';

/** A box in image pixels. */
export interface Box { x: number; y: number; width: number; height: number }

/** One generated image. */
export interface SyntheticImage {
  file: string;
  label: number;
  className: string;
  /** The pasted object. */
  object: Box;
  /** The corner mark (shortcut datasets). */
  mark?: Box;
}

/** Options of {@link makeShapesDataset}. */
export interface SyntheticOptions {
  /** Photos to crop backgrounds from. */
  backgrounds: string[];
  /** One class per shape; or, with `shortcut`, the objects drawn at random in every class. */
  shapes: ShapeName[];
  /** With a shortcut: one class per mark, drawn in the top-left corner; the object carries no class information. */
  shortcut?: MarkName[];
  perClass: number;
  /** Image side (default 224). */
  size?: number;
  /** Object side range in pixels (default [80, 112]). */
  objectSize?: [number, number];
  /** Mark side in pixels (default 72). */
  markSize?: number;
  seed?: number;
}

const svg = (s: number, body: string) => Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${s}" height="${s}" viewBox="0 0 100 100">${body}</svg>`);

function shapeSvg(name: ShapeName | MarkName, s: number): Buffer {
  switch (name) {
    case 'rings':
      return svg(s, [48, 38, 28, 18, 8].map((r, i) => `<circle cx="50" cy="50" r="${r}" fill="${i % 2 ? '#fff' : '#d00'}"/>`).join(''));
    case 'checker': {
      let cells = '';
      for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) cells += `<rect x="${i * 25}" y="${j * 25}" width="25" height="25" fill="${(i + j) % 2 ? '#ff0' : '#00c'}"/>`;
      return svg(s, cells);
    }
    case 'triangle':
      return svg(s, '<polygon points="50,3 97,97 3,97" fill="#0a0" stroke="#000" stroke-width="5"/><polygon points="50,40 72,85 28,85" fill="#fff"/>');
    case 'cross':
      return svg(s, '<rect x="36" y="2" width="28" height="96" fill="#f80"/><rect x="2" y="36" width="96" height="28" fill="#f80"/><rect x="36" y="36" width="28" height="28" fill="#000"/>');
    case 'stamp':
      return svg(s, '<rect x="0" y="0" width="100" height="100" fill="#e0e"/><path d="M15 15 L85 85 M85 15 L15 85" stroke="#fff" stroke-width="16"/>');
    case 'dot':
      return svg(s, '<rect x="0" y="0" width="100" height="100" fill="#0ee"/><circle cx="50" cy="50" r="30" fill="#000"/>');
  }
}

/**
 * Writes `dir/<class>/<class>-<n>.jpg` and returns every image with its object (and mark) box.
 * Classes are named after the shapes, or `mark-<mark>` for a shortcut dataset.
 */
export async function makeShapesDataset(dir: string, opts: SyntheticOptions): Promise<SyntheticImage[]> {
  const size = opts.size ?? 224;
  const [omin, omax] = opts.objectSize ?? [80, 112];
  const markSize = opts.markSize ?? 72;
  const random = seededRandom(opts.seed ?? 1);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
  const classes = opts.shortcut ? opts.shortcut.map((m) => `mark-${m}`) : opts.shapes;
  const bgs = await Promise.all(opts.backgrounds.map(async (file) => ({ file, meta: await sharp(file).metadata() })));
  const out: SyntheticImage[] = [];
  for (const [label, className] of classes.entries()) {
    await mkdir(path.join(dir, className), { recursive: true });
    for (let n = 0; n < opts.perClass; n++) {
      const bg = pick(bgs);
      const w = bg.meta.width!, h = bg.meta.height!;
      const side = Math.round(Math.min(w, h) * (0.4 + 0.6 * random()));
      const left = Math.floor(random() * (w - side + 1));
      const top = Math.floor(random() * (h - side + 1));
      const s = Math.round(omin + (omax - omin) * random());
      const mark = opts.shortcut ? { x: 0, y: 0, width: markSize, height: markSize } : undefined;
      let object: Box;
      do {
        object = { x: Math.floor(random() * (size - s + 1)), y: Math.floor(random() * (size - s + 1)), width: s, height: s };
      } while (mark && object.x < mark.width + 8 && object.y < mark.height + 8);
      const shape = opts.shortcut ? pick(opts.shapes) : opts.shapes[label];
      const layers = [{ input: shapeSvg(shape, s), left: object.x, top: object.y }];
      if (mark) layers.push({ input: shapeSvg(opts.shortcut![label], markSize), left: 0, top: 0 });
      const file = path.join(dir, className, `${className}-${String(n).padStart(4, '0')}.jpg`);
      let img = sharp(bg.file).extract({ left, top, width: side, height: side }).resize(size, size);
      if (random() < 0.5) img = img.flop();
      // Flattened first: sharp applies composite after resize/flop only within one pipeline stage.
      const base = await img.raw().toBuffer({ resolveWithObject: true });
      await sharp(base.data, { raw: { width: size, height: size, channels: base.info.channels } })
        .composite(layers).jpeg({ quality: 92 }).toFile(file);
      out.push({ file, label, className, object, mark });
    }
  }
  return out;
}

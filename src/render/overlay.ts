import { pixelChannels, type RgbImage } from '../core/image.js';
import type { Grid } from '../core/types.js';
import { colormapTable, type ColormapName } from './colormap.js';

/** Options of {@link overlay} and {@link colorize}. */
export interface RenderOptions {
  /** Default `jet`. */
  colormap?: ColormapName;
  /** Weight of the heatmap in the blend, 0..1 (default 0.5). */
  alpha?: number;
}

/** The heatmap (values 0..1) through a colormap, as RGB pixels. */
export function colorize(heatmap: Grid, opts: RenderOptions = {}): RgbImage {
  const lut = colormapTable(opts.colormap ?? 'jet');
  const out = new Uint8Array(heatmap.width * heatmap.height * 3);
  for (let i = 0; i < heatmap.data.length; i++) {
    const v = Math.max(0, Math.min(255, Math.round(heatmap.data[i] * 255))) * 3;
    out[i * 3] = lut[v];
    out[i * 3 + 1] = lut[v + 1];
    out[i * 3 + 2] = lut[v + 2];
  }
  return { data: out, width: heatmap.width, height: heatmap.height, channels: 3 };
}

/**
 * Blends the colorized heatmap over the image: `(1 − alpha) · image + alpha · color(heatmap)`.
 * The heatmap must have the image's size (as `explain`'s `heatmap` does).
 * @example
 * ```ts
 * const rgb = overlay(image, result.targets[0].heatmap, { colormap: 'jet', alpha: 0.5 });
 * await fs.writeFile('cat.png', await encodePng(rgb.data, rgb.width, rgb.height));
 * ```
 */
export function overlay(image: RgbImage, heatmap: Grid, opts: RenderOptions = {}): RgbImage {
  if (image.width !== heatmap.width || image.height !== heatmap.height) {
    throw new Error(`overlay: heatmap is ${heatmap.width}×${heatmap.height} but the image is ${image.width}×${image.height}`);
  }
  const alpha = opts.alpha ?? 0.5;
  const color = colorize(heatmap, opts).data;
  const c = pixelChannels(image);
  const out = new Uint8Array(image.width * image.height * 3);
  for (let i = 0, n = image.width * image.height; i < n; i++) {
    for (let k = 0; k < 3; k++) out[i * 3 + k] = Math.round((1 - alpha) * image.data[i * c + k] + alpha * color[i * 3 + k]);
  }
  return { data: out, width: image.width, height: image.height, channels: 3 };
}

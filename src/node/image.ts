import { readFile, stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { GradcamError } from '../model/types.js';
import type { RgbImage } from '../core/image.js';

/** File names taken as images when a folder is expanded. */
export const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;

/** Images larger than this are refused rather than decoded. */
export const MAX_PIXELS = 60_000_000;

/**
 * Decodes an image file (JPEG, PNG, WebP, GIF, TIFF, AVIF…) to 8-bit RGB, applying its EXIF
 * orientation. Throws a {@link GradcamError} naming the file for a missing, empty, non-image,
 * truncated or absurdly large file.
 */
export async function readImage(file: string): Promise<RgbImage> {
  const info = await stat(file).catch(() => undefined);
  if (!info) throw new GradcamError('no such file', file);
  if (info.isDirectory()) throw new GradcamError('is a folder, not an image', file);
  if (info.size === 0) throw new GradcamError('empty file (0 bytes)', file);
  return decodeImage(await readFile(file), file);
}

/**
 * Decodes encoded image bytes (an upload, a queued job) exactly as {@link readImage} decodes a
 * file; `name` is used in the errors.
 */
export async function decodeImage(bytes: Uint8Array, name: string, maxPixels = MAX_PIXELS): Promise<RgbImage> {
  if (bytes.byteLength === 0) throw new GradcamError('empty file (0 bytes)', name);
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata(); // header only; the size is checked below
  } catch {
    throw new GradcamError('not an image (unsupported or unrecognised format)', name);
  }
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w < 1 || h < 1 || w * h > maxPixels) {
    throw new GradcamError(`unusable image size ${w}×${h} (at most ${maxPixels / 1e6} megapixels)`, name);
  }
  try {
    const { data, info: out } = await sharp(bytes, { failOn: 'truncated', limitInputPixels: maxPixels })
      .rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: out.width, height: out.height };
  } catch (e) {
    throw new GradcamError(`truncated or corrupt image (${(e as Error).message.split('\n')[0]})`, name);
  }
}

/** Encodes RGB or RGBA pixels as PNG. */
export async function encodePng(data: Uint8Array | Uint8ClampedArray, width: number, height: number, channels: 3 | 4 = 3): Promise<Buffer> {
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels } }).png().toBuffer();
}

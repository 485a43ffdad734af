import * as tf from '@tensorflow/tfjs';
import type { Preprocessing } from '../model/types.js';

/** 8-bit pixels, row-major, RGB (3 channels) or RGBA (4). */
export interface RgbImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 3 (default) or 4; alpha is ignored. */
  channels?: 3 | 4;
}

/** Anything `explain` accepts as an image: raw pixels, an int32/float `[h, w, 3]` tensor of 0..255, or (browser) a pixel source. */
export type ImageInput = RgbImage | tf.Tensor3D | ImageData | HTMLImageElement | HTMLCanvasElement | HTMLVideoElement | ImageBitmap;

/** Channels of 8-bit pixels: `channels` if set, else 4 when the data holds 4 bytes per pixel, else 3. */
export function pixelChannels(img: RgbImage): 3 | 4 {
  return img.channels ?? (img.data.length === img.width * img.height * 4 ? 4 : 3);
}

const isRgb = (x: ImageInput): x is RgbImage =>
  typeof (x as RgbImage).width === 'number' && (x as RgbImage).data instanceof Uint8Array && !(x instanceof tf.Tensor);

/** `[h, w]` of an image input. */
export function imageSize(img: ImageInput): { width: number; height: number } {
  if (img instanceof tf.Tensor) return { width: img.shape[1], height: img.shape[0] };
  if (isRgb(img)) return { width: img.width, height: img.height };
  const el = img as HTMLVideoElement & HTMLImageElement;
  return { width: el.videoWidth || el.naturalWidth || el.width, height: el.videoHeight || el.naturalHeight || el.height };
}

/** The image as a float32 `[h, w, 3]` tensor of 0..255. */
export function toPixels(img: ImageInput): tf.Tensor3D {
  return tf.tidy(() => {
    if (img instanceof tf.Tensor) return img.toFloat() as tf.Tensor3D;
    if (isRgb(img)) {
      const c = pixelChannels(img);
      const bytes = new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength);
      const t = tf.tensor3d(bytes, [img.height, img.width, c], 'int32');
      return (c === 4 ? t.slice([0, 0, 0], [-1, -1, 3]) : t).toFloat() as tf.Tensor3D;
    }
    return tf.browser.fromPixels(img as ImageData).toFloat() as tf.Tensor3D;
  });
}

/** The part of a `width`×`height` image the network sees: all of it, or the central crop of the input's aspect ratio. */
export function inputRegion(width: number, height: number, pre: Preprocessing): { x: number; y: number; width: number; height: number } {
  if (pre.resize !== 'crop') return { x: 0, y: 0, width, height };
  const aspect = pre.size[1] / pre.size[0];
  const w = Math.min(width, Math.round(height * aspect));
  const h = Math.min(height, Math.round(width / aspect));
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
}

/**
 * Resizes and scales one image to the network input `[1, H, W, ch]` (ch = `pre.channels`, default 3). Downscaling averages first
 * (area filter to at most 2× the target) so that large photos do not alias.
 */
export function preprocess(img: ImageInput, pre: Preprocessing): tf.Tensor4D {
  return tf.tidy(() => {
    let x = toPixels(img);
    const [H, W] = pre.size;
    const r = inputRegion(x.shape[1], x.shape[0], pre);
    if (r.width !== x.shape[1] || r.height !== x.shape[0]) x = x.slice([r.y, r.x, 0], [r.height, r.width, 3]);
    const f = Math.floor(Math.min(x.shape[0] / H, x.shape[1] / W) / 2);
    if (f >= 2) x = tf.avgPool(x, [f, f], [f, f], 'valid');
    let sized = x.shape[0] === H && x.shape[1] === W ? x : tf.image.resizeBilinear(x, [H, W], false, true);
    const gray = pre.channels === 1;
    // Grayscale models: ITU-R BT.601 luminance.
    if (gray) sized = sized.mul(tf.tensor1d([0.299, 0.587, 0.114])).sum(2, true);
    const per = (v: [number, number, number]) => tf.tensor1d(gray ? v.slice(0, 1) : v);
    const scaled = pre.mean && pre.std
      ? sized.div(255).sub(per(pre.mean)).div(per(pre.std))
      : sized.div(255 / (pre.range[1] - pre.range[0])).add(pre.range[0]);
    return scaled.expandDims(0) as tf.Tensor4D;
  });
}

/** Several images as one network input batch `[N, H, W, ch]`. */
export function preprocessBatch(images: ImageInput[], pre: Preprocessing): tf.Tensor4D {
  return tf.tidy(() => tf.concat(images.map((img) => preprocess(img, pre))) as tf.Tensor4D);
}

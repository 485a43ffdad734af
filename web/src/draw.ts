/** Putting the library's RGB images on canvases and saving files: display only, no CAM logic. */
import type { RgbImage } from 'gradcam';

/** RGB or RGBA pixels as `ImageData`. */
export function toImageData(rgb: RgbImage | ImageData): ImageData {
  if (rgb instanceof ImageData) return rgb;
  const out = new ImageData(rgb.width, rgb.height);
  const c = rgb.channels ?? (rgb.data.length === rgb.width * rgb.height * 4 ? 4 : 3);
  for (let i = 0, n = rgb.width * rgb.height; i < n; i++) {
    out.data[i * 4] = rgb.data[i * c];
    out.data[i * 4 + 1] = rgb.data[i * c + 1];
    out.data[i * 4 + 2] = rgb.data[i * c + 2];
    out.data[i * 4 + 3] = 255;
  }
  return out;
}

const scratch = document.createElement('canvas');

/** Draws an image onto `canvas` at `width`×`height` (scaling it when its own size differs). */
export function drawImage(canvas: HTMLCanvasElement, rgb: RgbImage | ImageData, width: number, height: number): void {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext('2d')!;
  const data = toImageData(rgb);
  if (data.width === width && data.height === height) {
    ctx.putImageData(data, 0, 0);
    return;
  }
  scratch.width = data.width;
  scratch.height = data.height;
  scratch.getContext('2d')!.putImageData(data, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(scratch, 0, 0, width, height);
}

/** Offers a blob as a download. */
export function download(blob: Blob, name: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** A canvas as a PNG download. */
export function downloadCanvas(canvas: HTMLCanvasElement, name: string): void {
  canvas.toBlob((blob) => blob && download(blob, name), 'image/png');
}

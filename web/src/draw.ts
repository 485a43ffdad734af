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

/**
 * Guided Grad-CAM (`height × width × 3` gradients) as a picture: signed values around mid-grey, scaled
 * so that the 99th percentile of the magnitude reaches the ends (the usual ±0.1·std scaling leaves
 * MobileNet's guided gradients grey with faint specks).
 */
export function guidedImage(g: { data: Float32Array; width: number; height: number }): RgbImage {
  const mags = new Float32Array(g.width * g.height);
  for (let i = 0; i < mags.length; i++) {
    mags[i] = Math.max(Math.abs(g.data[i * 3]), Math.abs(g.data[i * 3 + 1]), Math.abs(g.data[i * 3 + 2]));
  }
  const sorted = mags.slice().sort();
  const scale = sorted[Math.floor(0.99 * (sorted.length - 1))] || sorted[sorted.length - 1] || 1;
  const data = new Uint8Array(g.data.length);
  for (let i = 0; i < g.data.length; i++) {
    data[i] = Math.round(255 * Math.min(1, Math.max(0, 0.5 + 0.5 * (g.data[i] / scale))));
  }
  return { data, width: g.width, height: g.height, channels: 3 };
}

/** Draws a vertical colour bar (top: 1, bottom: 0) from a 256-entry RGB table. */
export function drawColorbar(canvas: HTMLCanvasElement, lut: Uint8Array): void {
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let y = 0; y < canvas.height; y++) {
    const v = Math.round((1 - y / (canvas.height - 1)) * 255) * 3;
    for (let x = 0; x < canvas.width; x++) {
      const o = (y * canvas.width + x) * 4;
      img.data.set([lut[v], lut[v + 1], lut[v + 2], 255], o);
    }
  }
  ctx.putImageData(img, 0, 0);
}

/** One panel of a PNG download: its picture and two caption lines. */
export interface Panel { canvas: HTMLCanvasElement; title: string; detail: string }

/**
 * The pictures side by side with a caption strip under each (title; image, method, layer) and, when
 * `lut` is given, a horizontal colour bar (0 … 1) at the strip's right: the PNG a user downloads.
 */
export function composePng(panels: Panel[], footer: string, lut: Uint8Array | null): HTMLCanvasElement {
  const gap = 8;
  const width = panels.reduce((s, p) => s + p.canvas.width, 0) + gap * (panels.length - 1);
  const picH = Math.max(...panels.map((p) => p.canvas.height));
  const font = Math.max(12, Math.round(Math.min(width, 1200) / 45));
  const strip = Math.round(font * 3.6) + (lut ? font * 2 : 0);
  const out = document.createElement('canvas');
  out.width = Math.max(width, 360);
  out.height = picH + strip;
  const ctx = out.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, out.width, out.height);
  let x = 0;
  ctx.textBaseline = 'top';
  for (const p of panels) {
    ctx.drawImage(p.canvas, x, 0);
    ctx.fillStyle = '#111';
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    ctx.fillText(p.title, x + 6, picH + font * 0.35, p.canvas.width - 12);
    ctx.fillStyle = '#444';
    ctx.font = `${Math.round(font * 0.85)}px system-ui, sans-serif`;
    ctx.fillText(p.detail, x + 6, picH + font * 1.6, p.canvas.width - 12);
    x += p.canvas.width + gap;
  }
  const y = picH + font * 2.7;
  ctx.fillStyle = '#444';
  ctx.font = `${Math.round(font * 0.8)}px system-ui, sans-serif`;
  ctx.fillText(footer, 6, y, out.width - 12);
  if (lut) {
    const barY = y + font * 1.3;
    const barW = Math.min(240, out.width - 120);
    const x0 = 6 + ctx.measureText('low ').width;
    ctx.fillText('low', 6, barY - 2);
    for (let i = 0; i < barW; i++) {
      const v = Math.round((i / (barW - 1)) * 255) * 3;
      ctx.fillStyle = `rgb(${lut[v]},${lut[v + 1]},${lut[v + 2]})`;
      ctx.fillRect(x0 + i, barY, 1, font * 0.8);
    }
    ctx.fillStyle = '#444';
    ctx.fillText('high (share of the map\'s maximum)', x0 + barW + 6, barY - 2);
  }
  return out;
}

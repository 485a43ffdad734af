/** Drawing detections: boxes and labels as an SVG layer (composited by sharp in Node). */
import type { Box } from './nms.js';

/** A colour per class, stable across images (golden-angle hues). */
export function classColor(classIndex: number): string {
  return `hsl(${Math.round((classIndex * 137.508) % 360)}, 85%, 50%)`;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * An SVG of `width`×`height` with every box outlined and labelled (`className score`); boxes other
 * than `highlight` (when given) are dimmed.
 */
export function boxesSvg(width: number, height: number, boxes: { box: Box; className: string; classIndex: number; score: number }[], highlight?: number): string {
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 200));
  const font = Math.max(10, Math.round(Math.min(width, height) / 32));
  const parts = boxes.map((b, k) => {
    const [x1, y1, x2, y2] = b.box.map((v) => Math.round(v));
    const x = Math.max(0, Math.min(width - 1, x1)), y = Math.max(0, Math.min(height - 1, y1));
    const w = Math.max(1, Math.min(width - 1, x2) - x), h = Math.max(1, Math.min(height - 1, y2) - y);
    const color = classColor(b.classIndex);
    const opacity = highlight === undefined || highlight === k ? 1 : 0.35;
    const label = `${k} ${escape(b.className)} ${b.score.toFixed(2)}`;
    const ty = y >= font + 2 ? y - 3 : y + font;
    return `<g opacity="${opacity}"><rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="${color}" stroke-width="${stroke}"/>`
      + `<text x="${x + 2}" y="${ty}" font-family="sans-serif" font-size="${font}" fill="${color}" stroke="black" stroke-width="0.6" paint-order="stroke">${label}</text></g>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

import colormap from 'colormap';
import { GradcamError } from '../model/types.js';

/** A colormap (from the `colormap` package); `jet` is pytorch-grad-cam's default. */
export type ColormapName = 'jet' | 'viridis' | 'inferno' | 'magma' | 'plasma' | 'hot' | 'rainbow' | 'greys';
const NAMES: ColormapName[] = ['jet', 'viridis', 'inferno', 'magma', 'plasma', 'hot', 'rainbow', 'greys'];

const tables = new Map<ColormapName, Uint8Array>();

/** 256-entry RGB lookup table of a colormap (index 0 = value 0). */
export function colormapTable(name: ColormapName = 'jet'): Uint8Array {
  if (!NAMES.includes(name)) throw new GradcamError(`unknown colormap '${name}'; colormaps: ${NAMES.join(', ')}`);
  let t = tables.get(name);
  if (!t) {
    t = new Uint8Array(256 * 3);
    colormap({ colormap: name, nshades: 256, format: 'rgba' }).forEach((c, i) => t!.set([c[0], c[1], c[2]], i * 3));
    tables.set(name, t);
  }
  return t;
}

/** The colormap names. */
export const colormapNames = (): ColormapName[] => [...NAMES];

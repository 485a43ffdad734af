/**
 * Reading Keras HDF5 files with jsfive (pure JavaScript, ~26 KB gzipped in a browser bundle; h5wasm
 * would add ~1 MB of WebAssembly). Only what the Keras layouts need: groups, string attributes and
 * float datasets.
 */
import * as hdf5 from 'jsfive';

export type H5Group = hdf5.Group;
export type H5Dataset = hdf5.Dataset;

/** HDF5 files start with these 8 bytes (at offset 0 for Keras files). */
export const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

export function isHdf5(bytes: Uint8Array): boolean {
  return HDF5_MAGIC.every((b, i) => bytes[i] === b);
}

/** Opens an HDF5 file held in memory. Throws a plain Error (the caller names the file). */
export function openHdf5(bytes: Uint8Array): hdf5.File {
  const buffer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? (bytes.buffer as ArrayBuffer)
    : (bytes.slice().buffer as ArrayBuffer);
  try {
    return new hdf5.File(buffer, '');
  } catch (e) {
    throw new Error(`not a readable HDF5 file (${errorText(e)})`);
  }
}

/** jsfive throws strings as well as Errors. */
export function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

export const isGroup = (x: unknown): x is hdf5.Group => x instanceof hdf5.Group;
export const isDataset = (x: unknown): x is hdf5.Dataset => x instanceof hdf5.Dataset;

/** The child at `path` of `g`, or undefined (jsfive throws for a missing path). */
export function child(g: hdf5.Group, path: string): hdf5.Group | hdf5.Dataset | undefined {
  try {
    return g.get(path) ?? undefined;
  } catch {
    return undefined;
  }
}

/** A string attribute (HDF5 fixed-length strings come NUL-padded; byte strings are decoded). */
export function stringAttr(g: { attrs: Record<string, unknown> }, name: string): string | undefined {
  const v = g.attrs[name];
  if (v == null) return undefined;
  return clean(v);
}

/** A string-list attribute such as `layer_names` / `weight_names`. */
export function stringListAttr(g: { attrs: Record<string, unknown> }, name: string): string[] | undefined {
  const v = g.attrs[name];
  if (v == null) return undefined;
  return (Array.isArray(v) ? v : [v]).map(clean);
}

function clean(v: unknown): string {
  const s = v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v);
  return s.replace(/\0+$/, '');
}

/**
 * A dataset's values as float32. Contiguous little-endian float32 storage (what Keras writes) is
 * copied straight from the file; anything else goes through jsfive's element-by-element reader.
 */
export function readFloat32(ds: hdf5.Dataset): Float32Array {
  const size = ds.shape.reduce((a, b) => a * b, 1);
  const fast = contiguousF32(ds, size);
  if (fast) return fast;
  const v = ds.value;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = Number(v[i]);
  return out;
}

interface DataObjects {
  fh: ArrayBuffer;
  find_msg_type(type: number): { get(key: string): number }[];
  _get_data_message_properties(offset: number): [number, number, number, number];
}

/** Float32 data stored contiguously: one copy of its bytes, no per-element decoding. */
function contiguousF32(ds: hdf5.Dataset, size: number): Float32Array | undefined {
  if (ds.dtype !== '<f4') return undefined;
  try {
    const dobj = (ds as unknown as { _dataobjects: DataObjects })._dataobjects;
    const msg = dobj.find_msg_type(0x0008)[0];
    const [, , layout, propertyOffset] = dobj._get_data_message_properties(msg.get('offset_to_message'));
    if (layout !== 1) return undefined;
    const view = new DataView(dobj.fh);
    const offset = Number(view.getBigUint64(propertyOffset, true));
    if (!Number.isSafeInteger(offset) || offset + size * 4 > dobj.fh.byteLength) return undefined;
    return new Float32Array(dobj.fh.slice(offset, offset + size * 4));
  } catch {
    return undefined;
  }
}

/** Shared test setup: backend, the shared models and the reference inputs. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { initBackend, type NodeBackend } from '../src/node/backend.js';
import { loadModel } from '../src/node/load.js';
import type { ExplainableModel } from '../src/model/types.js';
import type { RgbImage } from '../src/core/image.js';
import { MODEL_025, MODEL_075, MODEL_GRAPH, REFERENCE_DIR, REPO_ROOT } from '../scripts/shared.js';

export { MODEL_025, MODEL_075, MODEL_GRAPH, REFERENCE_DIR };
export { sharedImage, sharedModel, SHARED_DIR, REPO_ROOT } from '../scripts/shared.js';

const cache = new Map<string, Promise<ExplainableModel>>();

/** Initialises `backend` (default wasm) and loads a shared model once per test file. */
export async function model(dir: string, backend: NodeBackend = 'wasm'): Promise<ExplainableModel> {
  await initBackend(backend);
  if (!cache.has(dir)) cache.set(dir, loadModel(dir));
  return cache.get(dir)!;
}

/** The exact 224×224 network input of a reference image (see ../shared/reference/README.md). */
export function referenceInput(stem: string): RgbImage {
  const data = new Uint8Array(readFileSync(path.join(REFERENCE_DIR, 'inputs', `${stem}.u8`)));
  return { data, width: 224, height: 224, channels: 3 };
}

/** Pearson correlation. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma, db = b[i] - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Runs the `gradcam` CLI (bin/gradcam.js) and collects its exit code and output. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [path.join(REPO_ROOT, 'bin/gradcam.js'), ...args], { env: { ...process.env, ...env }, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** A well-formed PNG that claims an absurd size (100000×100000). */
export function hugePng(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(100_000, 0);
  ihdr.writeUInt32BE(100_000, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(1000))), chunk('IEND', Buffer.alloc(0))]);
}

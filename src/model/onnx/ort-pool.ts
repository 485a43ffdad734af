/**
 * Node-only: onnxruntime-node in worker threads, behind the same {@link OrtModule} interface.
 *
 * onnxruntime-node's `session.run` blocks the calling thread. In worker threads it leaves the main
 * thread free to build the next batch (Score-CAM's masked inputs, a deletion curve's images) while
 * a batch runs, and two workers run two batches at once on two cores: on MobileNet v1 α=0.25,
 * one session runs 8 images in ~3.5 ms each; two workers side by side ~5 ms each, 2.5 ms of wall
 * time per image. Every worker holds its own session of each model the runner creates.
 *
 * Feeds cross by transfer (no copy) when they are consumed (see `OrtRunner.run`); feeds made with
 * `keep` (the whole images a blended run reuses for every batch) cross once per worker and are
 * then named by a key from the worker's small cache.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-common';
import type { OrtModule } from './ort.js';

/** The worker's code (CommonJS, evaluated): a table of sessions by id, answering create/run/release. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ort);
const sessions = new Map();
const images = new Map();
parentPort.on('message', async (m) => {
  for (const k of m.drop || []) images.delete(k);
  try {
    if (m.op === 'create') {
      sessions.set(m.sid, await ort.InferenceSession.create(m.bytes, m.options));
      parentPort.postMessage({ id: m.id });
    } else if (m.op === 'run') {
      const feeds = {};
      for (const [name, data, dims, key] of m.feeds) {
        if (key !== undefined) images.set(key, data);
        feeds[name] = new ort.Tensor('float32', typeof data === 'number' ? images.get(data) : data, dims);
      }
      const result = await sessions.get(m.sid).run(feeds, m.fetches);
      const outs = m.fetches.map((n) => [result[n].data, result[n].dims, result[n].type]);
      parentPort.postMessage({ id: m.id, outs }, outs.map((o) => o[0].buffer));
    } else if (m.op === 'release') {
      const s = sessions.get(m.sid);
      sessions.delete(m.sid);
      if (s) await s.release();
      parentPort.postMessage({ id: m.id });
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String(e && e.message || e) });
  }
});`;

interface Pending { resolve(v: unknown): void; reject(e: Error): void }

/** Kept feeds a worker holds, oldest first (at most this many). */
const KEPT_PER_WORKER = 8;

class PoolWorker {
  private readonly worker: Worker;
  /** Keys of the kept feeds this worker holds, oldest first. */
  readonly images: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  private failed?: Error;

  constructor(ortPath: string) {
    this.worker = new Worker(WORKER, { eval: true, workerData: { ort: ortPath } });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; error?: string; outs?: unknown }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (!this.pending.size) this.worker.unref();
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.outs);
    });
    const fail = (e: Error) => {
      this.failed = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the ONNX Runtime worker exited (code ${code})`)));
  }

  /** Requests in flight (the pool sends work to the least busy worker). */
  get load(): number {
    return this.pending.size;
  }

  call(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      // Referenced while a request is pending, so that awaiting it keeps the process alive.
      if (!this.pending.size) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

class PoolTensor {
  constructor(readonly type: 'float32', readonly data: Float32Array, readonly dims: readonly number[], readonly keep = false) {}
}

/**
 * An {@link OrtModule} running onnxruntime-node in `size` worker threads (one model's sessions;
 * the workers end when its last session is released). Runs go to the least busy worker, so up to
 * `size` calls run at once.
 */
export function workerOrt(size: number): OrtModule {
  const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
  let workers: PoolWorker[] = [];
  let sessions = 0;
  let nextSid = 0;
  const keys = new WeakMap<Float32Array, number>();
  let nextKey = 0;
  const InferenceSession = {
    async create(model: Uint8Array, options?: Ort.InferenceSession.SessionOptions) {
      if (!workers.length) workers = Array.from({ length: Math.max(1, size) }, () => new PoolWorker(ortPath));
      const sid = nextSid++;
      sessions++;
      const all = workers;
      const release = async () => {
        await Promise.allSettled(all.map((w) => w.call({ op: 'release', sid })));
        if (--sessions === 0 && workers === all) {
          workers = [];
          await Promise.all(all.map((w) => w.terminate()));
        }
      };
      try {
        await Promise.all(all.map((w) => w.call({ op: 'create', sid, bytes: model, options })));
      } catch (e) {
        await release();
        throw e;
      }
      return {
        async run(feeds: Record<string, PoolTensor>, fetches: string[]) {
          const w = all.reduce((a, b) => (b.load < a.load ? b : a));
          const transfer: ArrayBuffer[] = [];
          const drop: number[] = [];
          const sent = Object.entries(feeds).map(([name, t]) => {
            if (t.keep) {
              let key = keys.get(t.data);
              if (key === undefined) keys.set(t.data, key = nextKey++);
              if (w.images.includes(key)) return [name, key, t.dims];
              w.images.push(key);
              if (w.images.length > KEPT_PER_WORKER) drop.push(w.images.shift()!);
              return [name, t.data, t.dims, key];
            }
            // Consumed: an array over its whole buffer moves without a copy (copying megabytes costs
            // about what running them does); a view is copied.
            const d = t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength ? t.data : t.data.slice();
            transfer.push(d.buffer as ArrayBuffer);
            return [name, d, t.dims];
          });
          const outs = (await w.call({ op: 'run', sid, feeds: sent, fetches, drop }, transfer)) as [Float32Array, number[]][];
          return Object.fromEntries(fetches.map((n, i) => [n, { data: outs[i][0], dims: outs[i][1] }]));
        },
        release,
      } as unknown as Ort.InferenceSession;
    },
  };
  return { InferenceSession, Tensor: PoolTensor as unknown as OrtModule['Tensor'], concurrent: true };
}

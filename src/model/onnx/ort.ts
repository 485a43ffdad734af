/**
 * ONNX Runtime behind a small interface. The runtime module is injected (onnxruntime-node in Node,
 * onnxruntime-web in the browser), so this isomorphic code never imports either package itself.
 */
import type * as Ort from 'onnxruntime-common';
import { GradcamError } from '../types.js';
import { withExtraOutputs } from './proto.js';

/** The parts of `onnxruntime-node` / `onnxruntime-web` we use. */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: Ort.InferenceSession.SessionOptions): Promise<Ort.InferenceSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => Ort.Tensor;
  /** True when calls on one session may overlap (worker threads); otherwise runs are issued one at a time. */
  concurrent?: boolean;
}

/**
 * Rows per ONNX Runtime call when a batch is split (model outputs only). Measured here, 1 thread,
 * MobileNet v1 α=0.25: 3.5 ms per image in calls of 8, 4.4 in 16, 9.8 in 64 (large calls fall out
 * of cache).
 */
const CHUNK = 8;

export interface OrtOptions {
  /** Intra-op threads per session (default 1: batches run side by side in workers instead). */
  threads?: number;
  /**
   * Node: worker threads running ONNX Runtime, each with its own sessions (default: the number of
   * cores, at most 4; 0 runs it on the main thread). Ignored in the browser and when `ort` is given.
   */
  workers?: number;
  /** onnxruntime-web execution providers, e.g. ['webgpu', 'wasm']. */
  executionProviders?: Ort.InferenceSession.SessionOptions['executionProviders'];
}

export interface OrtOutput { data: Float32Array; dims: number[] }

/**
 * Sessions over one model: the plain model for forward passes, and per set of extra outputs a
 * session of the model with those tensors added as graph outputs (created on first use, kept).
 */
export class OrtRunner {
  private readonly sessions = new Map<string, Promise<Ort.InferenceSession>>();
  private disposed = false;

  constructor(
    private readonly ort: OrtModule,
    private readonly bytes: Uint8Array,
    private readonly inputName: string,
    private readonly source: string,
    private readonly opts: OrtOptions = {},
  ) {}

  private session(extra: { name: string; elemType: number }[]): Promise<Ort.InferenceSession> {
    if (this.disposed) throw new GradcamError('the model was disposed', this.source);
    const key = extra.map((e) => e.name).sort().join('\n');
    let s = this.sessions.get(key);
    if (!s) {
      const bytes = extra.length ? withExtraOutputs(this.bytes, extra) : this.bytes;
      s = this.ort.InferenceSession.create(bytes, {
        intraOpNumThreads: this.opts.threads ?? 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        ...(this.opts.executionProviders ? { executionProviders: this.opts.executionProviders } : {}),
      }).catch((e: Error) => {
        this.sessions.delete(key);
        throw new GradcamError(`ONNX Runtime cannot load the model: ${e.message.split('\n')[0]}`, this.source);
      });
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Creates the session now (load errors surface at load time). */
  async ready(): Promise<void> {
    await this.session([]);
  }

  /**
   * Runs the model on an NCHW float batch and returns `fetch` (graph outputs, or any float tensor
   * of the graph: these are added as extra outputs).
   */
  async run(nchw: Float32Array, dims: number[], fetch: string[], extra: { name: string; elemType: number }[] = []): Promise<OrtOutput[]> {
    const session = await this.session(extra);
    const feeds = { [this.inputName]: new this.ort.Tensor('float32', nchw, dims) };
    const result = await session.run(feeds, fetch);
    return fetch.map((name) => {
      const t = result[name];
      const out = { data: t.data as Float32Array, dims: [...t.dims] };
      t.dispose?.();
      return out;
    });
  }

  /**
   * {@link run} for fetches that all have the batch first (the model's outputs): the batch goes to
   * ONNX Runtime in calls of {@link CHUNK} rows, at once when the runtime runs calls concurrently.
   */
  async runRows(nchw: Float32Array, dims: number[], fetch: string[], extra: { name: string; elemType: number }[] = []): Promise<OrtOutput[]> {
    const n = dims[0];
    if (n <= CHUNK) return this.run(nchw, dims, fetch, extra);
    const per = nchw.length / n;
    const chunk = (r: number) => this.run(nchw.subarray(r * per, Math.min(n, r + CHUNK) * per), [Math.min(CHUNK, n - r), ...dims.slice(1)], fetch, extra);
    const parts: OrtOutput[][] = [];
    if (this.ort.concurrent) {
      const starts = Array.from({ length: Math.ceil(n / CHUNK) }, (_, i) => i * CHUNK);
      parts.push(...(await Promise.all(starts.map(chunk))));
    } else {
      for (let r = 0; r < n; r += CHUNK) parts.push(await chunk(r));
    }
    return fetch.map((_, i) => {
      const data = new Float32Array(parts.reduce((a, p) => a + p[i].data.length, 0));
      let at = 0;
      for (const p of parts) {
        const d = p[i].data;
        data.set(d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number | bigint>, Number), at);
        at += d.length;
      }
      return { data, dims: [n, ...parts[0][i].dims.slice(1)] };
    });
  }

  /** Releases every session. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) {
      try { await (await s).release(); } catch { /* failed to create: nothing to release */ }
    }
  }
}

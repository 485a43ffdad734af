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
}

export interface OrtOptions {
  /** Intra-op threads (default 1: the machine is usually shared with TF.js). */
  threads?: number;
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

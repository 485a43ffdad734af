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
  /** `keep`: the data is fed again in later runs (the pool then sends it once per worker; ORT ignores it). */
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[], keep?: boolean) => Ort.Tensor;
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
 * A float tensor for ONNX Runtime. Consumed by the run (in worker threads its buffer moves to the
 * worker: do not read it afterwards) unless `keep`: then it is fed again in later runs, as the same
 * array (the pool sends it once per worker).
 */
export interface OrtFeed extends OrtOutput { keep?: boolean }
/** The model as ONNX Runtime runs it for some passes: `edit` makes its bytes, `key` names it. */
export interface OrtVariant { key: string; edit(bytes: Uint8Array): Uint8Array }
type Extra = { name: string; elemType: number }[];

/**
 * Sessions over one model: the plain model for forward passes, and per variant (blended input, a
 * cut graph) and set of extra outputs a session of the edited model (created on first use, kept).
 */
export class OrtRunner {
  private readonly sessions = new Map<string, Promise<Ort.InferenceSession>>();
  private disposed = false;

  constructor(
    private readonly ort: OrtModule,
    private readonly bytes: Uint8Array,
    /** The image input's name. */
    readonly inputName: string,
    private readonly source: string,
    private readonly opts: OrtOptions = {},
  ) {}

  private session(extra: Extra, variant?: OrtVariant): Promise<Ort.InferenceSession> {
    if (this.disposed) throw new GradcamError('the model was disposed', this.source);
    const key = `${variant?.key ?? ''}|${extra.map((e) => e.name).sort().join('\n')}`;
    let s = this.sessions.get(key);
    if (!s) {
      const base = variant ? variant.edit(this.bytes) : this.bytes;
      const bytes = extra.length ? withExtraOutputs(base, extra) : base;
      s = this.ort.InferenceSession.create(bytes, {
        intraOpNumThreads: this.opts.threads ?? 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3, // errors only: warnings (e.g. unused weights) would litter the CLI's output
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
   * Runs the model (or `variant` of it) on `feeds` by input name and returns `fetch` (graph outputs,
   * or any tensor of the graph: these are added as extra outputs).
   */
  async run(feeds: Record<string, OrtFeed>, fetch: string[], extra: Extra = [], variant?: OrtVariant): Promise<OrtOutput[]> {
    const session = await this.session(extra, variant);
    const tensors = Object.fromEntries(Object.entries(feeds).map(([name, f]) => [name, new this.ort.Tensor('float32', f.data, f.dims, f.keep)]));
    const result = await session.run(tensors, fetch);
    return fetch.map((name) => {
      const t = result[name];
      const out = { data: t.data as Float32Array, dims: [...t.dims] };
      t.dispose?.();
      return out;
    });
  }

  /**
   * {@link run} on a batch of `n` rows whose fetches all have the batch first (the model's outputs):
   * the batch goes to ONNX Runtime in calls of {@link CHUNK} rows, at once when the runtime runs calls
   * concurrently. `part(r, rows)` makes the feeds of rows `r … r+rows−1`.
   */
  async runRows(
    n: number, part: (r: number, rows: number) => Promise<Record<string, OrtFeed>>, fetch: string[], extra: Extra = [], variant?: OrtVariant,
  ): Promise<OrtOutput[]> {
    const call = async (r: number) => this.run(await part(r, Math.min(CHUNK, n - r)), fetch, extra, variant);
    const starts = Array.from({ length: Math.ceil(n / CHUNK) }, (_, i) => i * CHUNK);
    const parts: OrtOutput[][] = [];
    if (this.ort.concurrent) parts.push(...(await Promise.all(starts.map(call))));
    else for (const r of starts) parts.push(await call(r));
    if (parts.length === 1) return parts[0];
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

/**
 * The page's side of the model worker: one request at a time is shown, a newer one supersedes the
 * older, Cancel stops the running one. The worker is asked first (it stops between masked batches);
 * if it does not confirm within `GRACE_MS` it is terminated and a fresh one started, with the current
 * model loaded again, so that a cancel always takes effect within a second.
 */
import type { ExplainRequest, ExplainResult, FromWorker, MethodInfo, ModelInfo, ModelSource, ToWorker } from './protocol.js';

/** How long a cancelled run may take to stop by itself before its worker is terminated. */
export const GRACE_MS = 400;

/** A request that was cancelled or superseded (not an error). */
export class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  onProgress?: (done: number, total: number) => void;
  onLoading?: (fraction: number) => void;
  kind: 'load' | 'explain';
  /** A slow run (many masked batches): terminated if it does not stop by itself within GRACE_MS. */
  slow?: boolean;
}

export interface WorkerEvents {
  ready(info: { backend: string; device: string; methods: MethodInfo[] }): void;
  /** A restarted worker is loading the current model again. */
  restarting(): void;
  restarted(): void;
  /** Tensors alive in the worker after a request. */
  memory(tensors: number): void;
}

export class ModelWorker {
  private worker!: Worker;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  /** The explain request shown now (older ones are superseded). */
  private current = 0;
  /** Counts explain/cancel calls: a call that is no longer the latest does not start. */
  private generation = 0;
  /** The model the worker holds (loaded again after a restart). */
  private source: ModelSource | null = null;
  private restarting: Promise<void> | null = null;
  private dead = false;
  restarts = 0;

  constructor(private readonly backend: string | null, private readonly events: WorkerEvents) {
    this.start();
  }

  private start(): void {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.receive(e.data);
    this.worker.onerror = (e) => {
      // A worker that fails to start or crashes: every request fails with the reason; the next one starts a new worker.
      for (const [id, p] of this.pending) {
        p.reject(new Error(`the model worker failed: ${e.message || 'unknown error'}`));
        this.pending.delete(id);
      }
      this.dead = true;
    };
    this.send({ type: 'init', backend: this.backend });
  }

  private send(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  private receive(m: FromWorker): void {
    if (m.type === 'ready') return this.events.ready(m);
    if (m.type === 'memory') return this.events.memory(m.tensors);
    const p = this.pending.get(m.id);
    if (!p) return;
    switch (m.type) {
      case 'loading': return p.onLoading?.(m.fraction);
      case 'progress': return p.onProgress?.(m.done, m.total);
      case 'loaded': case 'result':
        this.pending.delete(m.id);
        return p.resolve(m.type === 'loaded' ? m.info : m.result);
      case 'cancelled':
        this.pending.delete(m.id);
        return p.reject(new Cancelled());
      case 'error':
        this.pending.delete(m.id);
        return p.reject(new Error(m.message));
    }
  }

  private request<T>(kind: Pending['kind'], build: (id: number) => ToWorker, hooks: Partial<Pending> = {}): { id: number; done: Promise<T> } {
    const id = this.nextId++;
    const done = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, kind, ...hooks });
    });
    this.send(build(id));
    return { id, done };
  }

  /** Loads a model; on success it becomes the worker's model (also after a restart). */
  async load(source: ModelSource, onLoading?: (fraction: number) => void): Promise<ModelInfo> {
    this.revive();
    await this.restarting;
    const info = await this.request<ModelInfo>('load', (id) => ({ type: 'load', id, source }), { onLoading }).done;
    this.source = source;
    return info;
  }

  /** Explains; rejects with {@link Cancelled} when cancelled or superseded by a newer call. */
  async explain(request: ExplainRequest, onProgress?: (done: number, total: number) => void, slow = false): Promise<ExplainResult> {
    const mine = ++this.generation;
    // The older request stops first (between its batches, or with its worker), then this one runs.
    if (this.current && this.pending.has(this.current)) await this.stop(this.current);
    this.revive();
    await this.restarting;
    if (mine !== this.generation) throw new Cancelled();
    const { id, done } = this.request<ExplainResult>('explain', (i) => ({ type: 'explain', id: i, request }), { onProgress, slow });
    this.current = id;
    return done;
  }

  /** Cancels the current explanation (and any waiting to start); resolves once it has stopped. */
  cancel(): Promise<void> {
    this.generation++;
    return this.current && this.pending.has(this.current) ? this.stop(this.current) : Promise.resolve();
  }

  /** Whether an explanation is running or queued. */
  get busy(): boolean {
    return [...this.pending.values()].some((p) => p.kind === 'explain');
  }

  /**
   * Asks the worker to stop request `id`; a slow one that has not stopped within GRACE_MS is terminated
   * with its worker. (A fast one, e.g. a Grad-CAM map, is let finish: restarting would cost more.)
   */
  private stop(id: number): Promise<void> {
    const p = this.pending.get(id)!;
    this.send({ type: 'cancel', id });
    return new Promise<void>((resolve) => {
      const timer = p.slow ? setTimeout(() => {
        if (this.pending.get(id) === p) this.restart();
        resolve();
      }, GRACE_MS) : undefined;
      const settle = () => {
        clearTimeout(timer);
        resolve();
      };
      const { resolve: res, reject: rej } = p;
      p.resolve = (v) => { settle(); res(v); };
      p.reject = (e) => { settle(); rej(e); };
    });
  }

  /** After a crash: a new worker, with the current model loaded again. */
  private revive(): void {
    if (!this.dead) return;
    this.dead = false;
    this.restart();
  }

  /** Terminates the worker (stopping whatever it computes) and starts a new one with the same model. */
  private restart(): void {
    this.worker.terminate();
    this.restarts++;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new Cancelled());
    }
    this.events.restarting();
    this.start();
    const source = this.source;
    this.restarting = (async () => {
      if (source) {
        try {
          await this.request<ModelInfo>('load', (id) => ({ type: 'load', id, source })).done;
        } catch { /* the next request says that no model is loaded */ }
      }
      this.restarting = null;
      this.events.restarted();
    })();
  }

  terminate(): void {
    this.worker.terminate();
  }
}

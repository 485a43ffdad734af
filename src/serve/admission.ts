/**
 * The server's bounded in-process queue: at most `capacity` requests are admitted at once (reading
 * their upload, waiting, or running); the model runs one at a time, in arrival order.
 */
export class Admission {
  /** Requests admitted and not yet finished. */
  held = 0;
  private running = false;
  private readonly waiting: (() => void)[] = [];
  /** Recent service times (ms) for Retry-After. */
  private avgMs = 1000;

  constructor(readonly capacity: number) {}

  /** Admits a request, or returns undefined when `capacity` are already in. */
  enter() {
    if (this.held >= this.capacity) return undefined;
    this.held++;
    let left = false;
    return {
      /** Runs `f` when it is this request's turn (the model is free); rejects with `timeout()` if that takes longer than `ms`. */
      run: async <T>(f: () => Promise<T>, ms: number, timeout: () => Error): Promise<T> => {
        await this.turn(ms, timeout);
        const t0 = Date.now();
        try {
          return await f();
        } finally {
          this.avgMs = 0.8 * this.avgMs + 0.2 * (Date.now() - t0);
          this.next();
        }
      },
      leave: () => {
        if (!left) { left = true; this.held--; }
      },
    };
  }

  /** Seconds until a full queue has room again, about. */
  retryAfter(): number {
    return Math.max(1, Math.ceil((this.avgMs * Math.max(1, this.held)) / 1000));
  }

  private turn(ms: number, timeout: () => Error): Promise<void> {
    if (!this.running) {
      this.running = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const go = () => { clearTimeout(timer); resolve(); };
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(go);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(timeout());
      }, ms);
      this.waiting.push(go);
    });
  }

  private next(): void {
    const go = this.waiting.shift();
    if (go) go(); else this.running = false;
  }
}

/**
 * The model worker: every TensorFlow.js call of the web app runs here, off the page's main thread, so
 * the page stays responsive during slow methods. Messages (`protocol.ts`) are handled one at a time;
 * `cancel` and a newer `explain` are seen between masked batches (where the library awaits), and the
 * page terminates and restarts the worker if an answer takes too long.
 */
import * as tf from '@tensorflow/tfjs';
import { contrast, DEFAULT_MODEL_URL, explain, guidedGradcam, loadModelFromFiles, loadModelFromUrl, methods, type ExplainableModel, type ExplainOptions, type SplitRun, isSpatial } from 'gradcam';
import { backendDevice, initBrowserBackend } from './backend.js';
import type { ExplainRequest, ExplainResult, FromWorker, MethodInfo, ModelInfo, ModelSource, TargetView, ToWorker } from './protocol.js';

/** The dev server serves ../shared/models; a production build loads the official hosted model. */
const DEFAULT_MODEL = __SERVED_MODELS__ ? '/models/mobilenet_v1_0.75_224/model.json' : DEFAULT_MODEL_URL;

const scope = self as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (m: FromWorker) => scope.postMessage(m);

/** Thrown inside a run when it was cancelled or superseded. */
class Stopped extends Error {}

let model: ExplainableModel | null = null;
let ready: Promise<void> | null = null;
const queue: ToWorker[] = [];
let running: { id: number; stop: boolean } | null = null;
let pumping = false;

scope.onmessage = ({ data: msg }) => {
  if (msg.type === 'init') {
    ready = init(msg.backend);
    ready.catch(() => undefined); // reported to each request by pump()
    return;
  }
  if (msg.type === 'cancel') {
    if (running?.id === msg.id) running.stop = true;
    dropQueued((m) => m.type === 'explain' && m.id === msg.id);
    return;
  }
  if (msg.type === 'explain') {
    // A newer request supersedes every older one, queued or running.
    dropQueued((m) => m.type === 'explain');
    if (running) running.stop = true;
  }
  queue.push(msg);
  void pump();
};

function dropQueued(which: (m: ToWorker) => boolean): void {
  for (let i = queue.length - 1; i >= 0; i--) {
    if (which(queue[i])) post({ type: 'cancelled', id: (queue.splice(i, 1)[0] as { id: number }).id });
  }
}

async function init(backend: string | null): Promise<void> {
  const name = await initBrowserBackend(backend);
  const list: MethodInfo[] = Object.entries(methods).map(([key, m]) => ({
    name: key, title: m.title, classSpecific: m.classSpecific, slow: m.needs === 'scores', // perturbation methods: C passes
  }));
  post({ type: 'ready', backend: name, device: backendDevice(), methods: list });
}

async function pump(): Promise<void> {
  if (pumping) return;
  pumping = true;
  try {
    await ready;
    while (queue.length) {
      const msg = queue.shift()!;
      if (msg.type !== 'load' && msg.type !== 'explain') continue;
      running = { id: msg.id, stop: false };
      try {
        if (msg.type === 'load') await load(msg.id, msg.source);
        else post({ type: 'result', id: msg.id, result: await run(msg.id, msg.request) });
      } catch (e) {
        if (e instanceof Stopped || running.stop) post({ type: 'cancelled', id: msg.id });
        else post({ type: 'error', id: msg.id, message: oneLine(e) });
      } finally {
        running = null;
        post({ type: 'memory', tensors: tf.memory().numTensors });
      }
    }
  } catch (e) {
    // The backend could not start: every queued request fails with that message.
    for (const m of queue.splice(0)) if ('id' in m) post({ type: 'error', id: m.id, message: oneLine(e) });
  } finally {
    pumping = false;
  }
}

const oneLine = (e: unknown) => (e as Error)?.message?.split('\n')[0] || String(e);

// ---------- models ----------

async function load(id: number, source: ModelSource): Promise<void> {
  const onProgress = (fraction: number) => post({ type: 'loading', id, fraction });
  let m: ExplainableModel | null = null;
  try {
    if (source.kind === 'default' || source.kind === 'url') {
      m = await loadModelFromUrl(source.kind === 'default' ? DEFAULT_MODEL : source.url, { onProgress });
    } else {
      // The library picks the reader: model.json + weights, or (where it has the loader) a .keras/.h5/.onnx file.
      m = await loadModelFromFiles(source.files, { onProgress });
    }
    m.resolveLayer('auto'); // a model without a spatial layer cannot be explained: say so now
    const info = modelInfo(m, displayName(m, source));
    model?.dispose();
    model = m;
    post({ type: 'loaded', id, info });
  } catch (e) {
    m?.dispose();
    throw e;
  }
}

/** The model's name: the library's (metadata `name`, else file or folder name), else the folder picked (never just "model.json"). */
function displayName(m: ExplainableModel, source: ModelSource): string {
  if (!/^model\.json$/i.test(m.name)) return m.name;
  return (source.kind === 'files' && source.folder) || 'your TF.js model';
}

const folderOf = (url: string) => decodeURIComponent(new URL(url, location.href).pathname.split('/').filter(Boolean).slice(-2, -1)[0] ?? url);

function modelInfo(m: ExplainableModel, name: string): ModelInfo {
  return {
    name, source: m.source, format: m.format, labels: m.labels, size: m.preprocessing.size,
    layers: m.layers.filter(isSpatial).map(({ name: n, type, shape }) => ({ name: n, type, shape })),
    defaultLayer: m.defaultLayer,
  };
}

// ---------- explaining ----------

/**
 * The model as the library sees it during one run, instrumented: every batch of masked inputs (Score-CAM)
 * or ablated activations (Ablation-CAM) reports progress, and — where the library awaits between
 * batches — gives the worker a turn to read a cancel or a newer request, then stops the run.
 */
function instrumented(m: ExplainableModel, id: number, total: number, batch: number): ExplainableModel {
  let rows = 0;
  let heads = 0;
  let split = false;
  let last = -1;
  const count = (n: number) => {
    rows += n;
    const done = Math.min(Math.ceil(rows / batch), Math.ceil(total / batch));
    if (done !== last) post({ type: 'progress', id, done: (last = done), total: Math.ceil(total / batch) });
  };
  const check = () => {
    if (running?.stop) throw new Stopped('stopped');
  };
  const w = Object.create(m) as ExplainableModel;
  const slots = w as unknown as Record<string, unknown>;
  slots.split = (x: tf.Tensor4D, layer: string) => {
    check();
    split = true;
    const wrap = (s: SplitRun) => {
      const head = s.head.bind(s);
      return Object.assign(Object.create(s) as SplitRun, {
        head: (a: tf.Tensor4D, r?: number[]) => {
          if (heads++ > 0) count(a.shape[0]); // the first head pass is the unperturbed one
          return head(a, r);
        },
      });
    };
    return m.split(x, layer).then(wrap);
  };
  const run = m.run.bind(m);
  // Before each forward pass (Score-CAM's masked batches) a macrotask turn lets a cancel or a newer request in.
  slots.run = async (x: tf.Tensor4D) => {
    if (split) count(x.shape[0]);
    await new Promise<void>((r) => setTimeout(r, 0));
    check();
    return run(x);
  };
  return w;
}

async function run(id: number, req: ExplainRequest): Promise<ExplainResult> {
  if (!model) throw new Error('no model is loaded');
  const t0 = performance.now();
  const layer = model.resolveLayer(req.layer);
  const info = model.layers.find((l) => l.name === layer);
  const channels = Number(info?.shape.at(-1) ?? 0);
  const batchSize = req.batchSize ?? 8;
  const m = instrumented(model, id, channels, batchSize);
  let warning: string | null = null;
  const labels = model.labels;
  const targets = req.targets.map((t) => {
    if (t.kind === 'class') return t.index;
    return contrast(t.a, t.b, { labels: [labels[t.a], labels[t.b]] }); // score: logit a − logit b
  });
  const opts: ExplainOptions = {
    method: req.method as ExplainOptions['method'], layer, targets: targets as ExplainOptions['targets'], top: targets.length ? 0 : 1, batchSize,
    onWarning: (w) => { warning = w; },
  };
  const before = tf.memory().numTensors;
  let explanation;
  let guided: { data: Float32Array; width: number; height: number }[] | undefined;
  if (req.guided) {
    const [g] = await guidedGradcam(m, [req.image], opts);
    explanation = g.explanation;
    guided = g.targets.map((t) => ({ data: t.guidedGradcam!, width: t.width, height: t.height }));
  } else {
    [explanation] = await explain(m, [req.image], opts);
  }
  const leaked = tf.memory().numTensors - before;
  if (leaked > 0) console.warn(`gradcam worker: ${leaked} tensors leaked by one run`);
  const views: TargetView[] = explanation.targets.map((t, i) => {
    const asked = req.targets[i];
    return asked?.kind === 'contrast'
      ? { title: `${labels[asked.a]} rather than ${labels[asked.b]}`, kind: 'contrast', classIndex: asked.a, otherIndex: asked.b, guided: guided?.[i] }
      : { title: t.className, kind: 'class', classIndex: t.classIndex, guided: guided?.[i] };
  });
  // Only data crosses to the page: the target objects (functions) stay here.
  explanation.targets = explanation.targets.map((t) => {
    const { explained: _, ...data } = t as typeof t & { explained?: unknown };
    return data as typeof t;
  });
  return { explanation, views, ms: performance.now() - t0, warning };
}

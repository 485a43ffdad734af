/**
 * The web app's page: it reads the controls, asks the model worker (`client.ts` → `worker.ts`, where
 * all TensorFlow.js work happens) for explanations, and draws what comes back with the library's
 * `overlay` / `colorize`. The page never imports TensorFlow.js, so it stays responsive during slow
 * methods. Images are decoded in the page and never sent anywhere; the only requests are the app's own
 * files and the model's.
 */
import { colorize, colormapNames, colormapTable, overlay, toJson, type ColormapName, type ExplanationJson, type TargetExplanation } from 'gradcam';
import { Cancelled, ModelWorker } from './client.js';
import { composePng, download, drawColorbar, drawImage, guidedImage, type Panel } from './draw.js';
import type { ExplainResult, MethodInfo, ModelInfo, ModelSource, TargetRequest, TargetView } from './protocol.js';
import sampleUrl from './sample-chelsea.jpg?url';
import { filePixels, firstImage, framePixels, startCamera, stopCamera } from './sources.js';
import './style.css';

/** What the page shows, as `window.__gradcam` (read by the tests and the bench) and `<body data-state>`. */
export interface PageState {
  state: 'loading' | 'ready' | 'busy' | 'error';
  backend: string;
  /** The model's source (URL or file name); `modelName` is its display name. */
  model: string;
  modelName: string;
  /** The JSON report of the current explanation (the same as the download). */
  json: ExplanationJson | null;
  /** Explanations shown so far (grows every frame in live mode). */
  runs: number;
  error: string | null;
  warning: string | null;
  /** Masked batches of the running slow method. */
  progress: { done: number; total: number } | null;
  /** Runs cancelled by the user, and worker restarts (a run that did not stop by itself). */
  cancels: number;
  restarts: number;
  /** Tensors alive in the worker after its last request. */
  tensors: number;
  /** ms since navigation when the model was ready and when the first map was drawn; the last run's ms in the worker and end to end. */
  timings: { modelReady?: number; imageChosen?: number; firstMap?: number; workerMs?: number; requestMs?: number; cancelMs?: number };
}

type View = 'overlay' | 'heatmap' | 'original' | 'guided';

const params = new URLSearchParams(location.search);
/** `?model=<url of model.json>`, else the default model (the worker knows where it is). */
const DEFAULT_SOURCE: ModelSource = params.get('model') ? { kind: 'url', url: params.get('model')! } : { kind: 'default' };

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  status: $('status'), progress: $<HTMLProgressElement>('progress'), cancel: $<HTMLButtonElement>('cancel'),
  error: $('error'), errorText: $('error-text'), errorActions: $('error-actions'), note: $('note'),
  drop: $('drop'), choose: $<HTMLButtonElement>('choose'), sample: $<HTMLButtonElement>('sample'), imageFile: $<HTMLInputElement>('image-file'),
  camera: $<HTMLButtonElement>('camera'), video: $<HTMLVideoElement>('video'),
  modelInfo: $('model-info'), modelDefault: $<HTMLButtonElement>('model-default'), modelOpen: $<HTMLButtonElement>('model-open'),
  modelFolder: $<HTMLButtonElement>('model-folder'), modelFiles: $<HTMLInputElement>('model-files'), modelDir: $<HTMLInputElement>('model-dir'),
  cls: $<HTMLInputElement>('class'), clsClear: $<HTMLButtonElement>('class-clear'), compare: $<HTMLInputElement>('compare'),
  compareClear: $<HTMLButtonElement>('compare-clear'), pairing: $<HTMLFieldSetElement>('pairing'),
  labels: $<HTMLDataListElement>('labels'), method: $<HTMLSelectElement>('method'), methodNote: $('method-note'), layer: $<HTMLSelectElement>('layer'),
  colormap: $<HTMLSelectElement>('colormap'), opacity: $<HTMLInputElement>('opacity'), opacityValue: $<HTMLOutputElement>('opacity-value'),
  maps: $('maps'), legend: $('legend'), legendBar: $<HTMLCanvasElement>('legend-bar'), predictions: $<HTMLOListElement>('predictions'),
  downloadPng: $<HTMLButtonElement>('download-png'), downloadJson: $<HTMLButtonElement>('download-json'),
  settings: $<HTMLDetailsElement>('settings'), backend: $('backend'),
};

const page: PageState = {
  state: 'loading', backend: '', model: '', modelName: '', json: null, runs: 0, error: null, warning: null,
  progress: null, cancels: 0, restarts: 0, tensors: 0, timings: {},
};
window.__gradcam = page;

const app = {
  model: null as ModelInfo | null,
  /** The last model load failed (the default one, or the user's). */
  modelError: null as string | null,
  /** A model is being loaded. */
  modelLoading: false,
  methods: [] as MethodInfo[],
  image: null as { pixels: ImageData; name: string } | null,
  /** The explained class (null: the top prediction) and the optional second one. */
  primary: null as number | null,
  second: null as number | null,
  result: null as ExplainResult | null,
  /** The image the result belongs to (live mode moves on). */
  resultImage: null as ImageData | null,
  live: false,
};

// ---------- status and errors ----------

function setState(state: PageState['state'], message: string): void {
  page.state = state;
  document.body.dataset.state = state;
  ui.status.textContent = message;
}

/**
 * Shows an error just below the status line and removes the results it makes stale. `actions` are
 * buttons offered with it (e.g. Retry).
 */
function showError(e: unknown, actions: [string, () => void][] = []): void {
  const message = (e as Error)?.message?.split('\n')[0] || String(e);
  page.error = message;
  ui.errorText.textContent = message;
  ui.errorActions.replaceChildren(...actions.map(([text, f]) => button(text, f)));
  ui.error.hidden = false;
  clearResults('No explanation: see the message above.');
  setState('error', 'Something went wrong — the message is just below.');
}

function clearError(): void {
  page.error = null;
  ui.error.hidden = true;
}

/** Removes the maps, top-5 and downloads (they belong to an image or model that is gone). */
function clearResults(placeholder: string): void {
  app.result = null;
  app.resultImage = null;
  page.json = null;
  ui.maps.replaceChildren(Object.assign(document.createElement('p'), { className: 'placeholder', textContent: placeholder }));
  ui.predictions.replaceChildren();
  ui.legend.hidden = true;
  ui.downloadJson.disabled = ui.downloadPng.disabled = true;
  ui.note.hidden = true;
}

const view = () => (document.querySelector<HTMLInputElement>('input[name=view]:checked')?.value ?? 'overlay') as View;
const pairing = () => (document.querySelector<HTMLInputElement>('input[name=pairing]:checked')?.value ?? 'side') as 'side' | 'contrast';
const stem = () => (app.image?.name ?? 'image').replace(/\.[^.]+$/, '');
const classText = (i: number) => `${i}: ${app.model!.labels[i]}`;
const methodInfo = (name = ui.method.value) => app.methods.find((m) => m.name === name);
const nextPaint = () => new Promise<void>((r) => requestAnimationFrame(() => setTimeout(r, 0)));

// ---------- the worker ----------

const worker = new ModelWorker(params.get('backend'), {
  ready: ({ backend, device, methods }) => {
    page.backend = backend;
    ui.backend.textContent = device;
    app.methods = methods;
    ui.method.replaceChildren(...methods.map((m) => new Option(
      m.title + (m.classSpecific ? '' : ' (class-agnostic)') + (m.slow ? ' (slow)' : ''), m.name,
    )));
    updateMethodNote();
  },
  restarting: () => {
    page.restarts = worker.restarts;
  },
  restarted: () => undefined,
  memory: (tensors) => { page.tensors = tensors; },
});

// ---------- model ----------

async function openModel(source: ModelSource, label: string): Promise<void> {
  clearError();
  setState('loading', `Loading ${label}…`);
  ui.modelInfo.textContent = `Loading ${label}…`;
  let info: ModelInfo;
  app.modelLoading = true;
  try {
    info = await worker.load(source, (f) => setState('loading', `Loading ${label}… ${Math.round(f * 100)}%`));
  } catch (e) {
    modelFailed(e, source === DEFAULT_SOURCE);
    return;
  } finally {
    app.modelLoading = false;
  }
  app.modelError = null;
  page.timings.modelReady ??= performance.now();
  Object.assign(app, { model: info, primary: null, second: null });
  clearResults('The explanation appears here.');
  page.model = info.source;
  page.modelName = info.name;
  const [h, w] = info.size;
  ui.modelInfo.textContent = `${info.name}: ${info.labels.length} classes, ${w}×${h} input, ${info.format} model, ${info.layers.length} layers with a spatial map.`;
  ui.labels.replaceChildren(...info.labels.map((_, i) => new Option(classText(i))));
  ui.layer.replaceChildren(...info.layers.map((l) => {
    const o = new Option(`${l.name} · ${l.shape.slice(1).join('×')}${l.name === info.defaultLayer ? ' · default' : ''}`, l.name);
    o.selected = l.name === info.defaultLayer;
    return o;
  }));
  ui.cls.value = ui.compare.value = '';
  setState('ready', app.image ? `${info.name} loaded.` : `${info.name} is ready: choose an image, or try the sample.`);
  requestRun();
}

/** A model that failed to load: a persistent message with what to do; a previous model stays usable. */
function modelFailed(e: unknown, isDefault: boolean): void {
  const reason = (e as Error)?.message?.split('\n')[0] || String(e);
  const message = isDefault
    ? `Could not fetch the default model (${reason}). Load your own model, or try again.`
    : reason;
  app.modelError = message;
  const actions: [string, () => void][] = isDefault
    ? [['Retry', () => void loadDefaultModel()], ['Load your own model…', () => ui.modelOpen.click()]]
    : [];
  if (app.model && !isDefault) {
    // The previous model stays: show the message without discarding the current results.
    page.error = message;
    ui.errorText.textContent = message;
    ui.errorActions.replaceChildren();
    ui.error.hidden = false;
    setState('error', `That model could not be loaded (message below); ${app.model.name} stays loaded.`);
    return;
  }
  if (isDefault) {
    app.model = null;
    ui.modelInfo.textContent = 'No model loaded: the default model could not be fetched.';
  }
  showError(message, actions);
  if (!app.model) setState('error', 'No model is loaded — see the message below.');
}

const loadDefaultModel = () => openModel(DEFAULT_SOURCE, DEFAULT_SOURCE.kind === 'default' ? 'MobileNet v1 α=0.75' : 'the model');

// ---------- explaining ----------

let pumping = false;
let dirty = false;

/** Asks for a new explanation: the latest settings win, an older run still going is superseded. */
function requestRun(): void {
  dirty = true;
  if (!pumping) void pump();
  else if (!app.live) void worker.cancel(); // a newer request supersedes the running one
}

async function pump(): Promise<void> {
  pumping = true;
  try {
    while ((dirty && app.image) || app.live) {
      if (!app.model) {
        dirty = false;
        if (app.image) noModel();
        break;
      }
      dirty = false;
      if (app.live) app.image = { pixels: framePixels(ui.video), name: 'camera.png' };
      await nextPaint();
      try {
        await computeOnce();
      } catch (e) {
        if (e instanceof Cancelled) continue;
        stopLive();
        showError(e);
      }
    }
  } finally {
    pumping = false;
    showProgress(null);
  }
}

function noModel(): void {
  if (app.modelLoading) {
    setState('loading', 'Image ready: it is explained as soon as the model has loaded…');
    return;
  }
  const message = app.modelError
    ? `No model is loaded, so this image cannot be explained: ${app.modelError[0].toLowerCase()}${app.modelError.slice(1)}`
    : 'No model is loaded yet.';
  showError(message, app.modelError ? [['Retry', () => void loadDefaultModel()], ['Load your own model…', () => ui.modelOpen.click()]] : []);
  setState('error', 'No model is loaded — see the message below.');
}

function targetsRequested(): TargetRequest[] {
  const m = methodInfo();
  if (m && !m.classSpecific) return [];
  const { primary, second } = app;
  if (second !== null && pairing() === 'contrast') {
    const a = primary ?? app.result?.explanation.predictions[0]?.classIndex;
    if (a !== undefined) return [{ kind: 'contrast', a, b: second }];
  }
  if (primary === null && second !== null) {
    const top = app.result?.explanation.predictions[0]?.classIndex;
    return top !== undefined ? [{ kind: 'class', index: top }, { kind: 'class', index: second }] : [{ kind: 'class', index: second }];
  }
  return [primary, second].filter((c): c is number => c !== null).map((index) => ({ kind: 'class', index }));
}

async function computeOnce(): Promise<void> {
  const image = app.image!;
  const method = methodInfo();
  if (!app.live) setState('busy', method?.slow ? `Explaining with ${method.title}…` : 'Explaining…');
  if (method?.slow && !app.live) showProgress({ done: 0, total: 0 });
  const t0 = performance.now();
  const result = await worker.explain({
    image: image.pixels, method: ui.method.value, layer: ui.layer.value || 'auto', targets: targetsRequested(), guided: view() === 'guided',
  }, (done, total) => {
    showProgress({ done, total });
    setState('busy', `${method?.title ?? 'Explaining'}: masked batch ${done} of ${total}…`);
  }, method?.slow ?? false);
  showProgress(null);
  page.timings.requestMs = performance.now() - t0;
  page.timings.workerMs = result.ms;
  app.result = result;
  app.resultImage = image.pixels;
  page.runs++;
  page.warning = result.warning;
  page.json = toJson(result.explanation, image.name, app.model!.source);
  clearError();
  renderResult();
  page.timings.firstMap ??= performance.now();
  const r = result.explanation;
  setState('ready', `${method?.title ?? r.method} at ${r.layer} · ${result.ms.toFixed(0)} ms · ${r.backend}${app.live ? ' · live' : ''}`);
}

function showProgress(p: { done: number; total: number } | null): void {
  page.progress = p;
  ui.progress.hidden = ui.cancel.hidden = !p;
  if (p) {
    ui.progress.max = Math.max(1, p.total);
    ui.progress.value = p.done;
    ui.progress.textContent = `${p.done} / ${p.total}`;
  }
}

async function cancelRun(): Promise<void> {
  const t0 = performance.now();
  dirty = false;
  setState('busy', 'Cancelling…');
  await worker.cancel();
  page.cancels++;
  page.restarts = worker.restarts;
  page.timings.cancelMs = performance.now() - t0;
  showProgress(null);
  setState('ready', `Cancelled (${page.timings.cancelMs.toFixed(0)} ms).${app.result ? ' The map shown is the previous one.' : ''}`);
}

// ---------- rendering ----------

function renderResult(): void {
  const r = app.result?.explanation;
  if (!r) return;
  const top = r.predictions[0];
  ui.cls.placeholder = `top prediction (${top.className})`;
  const shown = new Set(r.targets.map((t) => t.classIndex));
  ui.predictions.replaceChildren(...r.predictions.map((p) => {
    const li = document.createElement('li');
    const explainBtn = button('', () => choose('primary', p.classIndex), 'pred');
    explainBtn.append(
      Object.assign(document.createElement('span'), { className: 'name', textContent: p.className }),
      Object.assign(document.createElement('span'), { className: 'prob', textContent: `${(p.probability * 100).toFixed(1)}%` }),
    );
    explainBtn.setAttribute('aria-pressed', String(shown.has(p.classIndex)));
    explainBtn.dataset.class = String(p.classIndex);
    explainBtn.style.setProperty('--p', String(p.probability));
    const vs = button('vs', () => choose('second', p.classIndex), 'vs');
    vs.setAttribute('aria-label', `Compare with ${p.className}`);
    vs.setAttribute('aria-pressed', String(app.second === p.classIndex));
    li.append(explainBtn, vs);
    return li;
  }));
  ui.downloadJson.disabled = ui.downloadPng.disabled = false;
  const notes = [page.warning && `Note: ${page.warning}.`, layerNote(r.layer)].filter(Boolean);
  ui.note.hidden = !notes.length;
  ui.note.textContent = notes.join(' ');
  renderMaps();
}

/** Earlier layers: say what their maps show. */
function layerNote(layer: string): string {
  const info = app.model?.layers;
  const cells = (name: string) => {
    const l = info?.find((x) => x.name === name);
    return l ? Number(l.shape[1]) * Number(l.shape[2]) : 0;
  };
  const here = info?.find((l) => l.name === layer);
  if (!here || !app.model || cells(layer) <= 4 * cells(app.model.defaultLayer)) return '';
  return `${layer} is an early layer (${here.shape[1]}×${here.shape[2]}): its map follows edges and textures more than the class, and is often noisy; ${app.model.defaultLayer} is the default.`;
}

function button(text: string, onClick: () => void, className = ''): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

/** The caption of one map: what it is about, and how it was made. */
function caption(t: TargetExplanation, v: TargetView): { title: string; detail: string } {
  const r = app.result!.explanation;
  const method = methodInfo(r.method);
  const layer = app.model?.layers.find((l) => l.name === r.layer);
  const guided = view() === 'guided' ? ' · guided: pixel gradients × the map, grey = no influence' : '';
  const how = `${method?.title ?? r.method}${guided} · layer ${r.layer}${layer ? ` (${layer.shape[1]}×${layer.shape[2]})` : ''}`;
  const prob = `${(t.probability * 100).toFixed(1)}%`;
  const score = (t as TargetExplanation & { score?: number }).score;
  let title = v.kind === 'contrast' ? `why ${v.title}${score !== undefined ? ` · logit difference ${score.toFixed(2)}` : ''}` : `${t.className} · ${prob}`;
  if (method && !method.classSpecific) title = `class-agnostic: the layer's dominant pattern, whatever the class`;
  const evidence = t.noEvidence
    ? `no positive evidence${method?.classSpecific === false ? '' : ` for ${v.kind === 'contrast' ? 'this contrast' : t.className}`} at this layer — the map is empty`
    : `peak (${t.peak!.x}, ${t.peak!.y})`;
  return { title, detail: `${how} · ${evidence}` };
}

/** One figure per explained target; redrawn when only the display settings change. */
function renderMaps(): void {
  const res = app.result;
  const image = app.resultImage;
  if (!res || !image) return;
  const r = res.explanation;
  if (ui.maps.querySelectorAll('figure').length !== r.targets.length) ui.maps.replaceChildren(...r.targets.map(() => newFigure()));
  const colormap = ui.colormap.value as ColormapName;
  const alpha = Number(ui.opacity.value);
  const v = view();
  ui.maps.querySelectorAll<HTMLElement>('figure').forEach((fig, i) => {
    const t = r.targets[i];
    const tv = res.views[i];
    const canvas = fig.querySelector('canvas')!;
    const picture =
      v === 'original' || (t.noEvidence && v === 'overlay') ? image
      : v === 'heatmap' ? colorize(t.heatmap, { colormap })
      : v === 'guided' && tv.guided ? guidedImage(tv.guided)
      : overlay(image, t.heatmap, { colormap, alpha });
    drawImage(canvas, picture, image.width, image.height);
    Object.assign(fig.dataset, {
      class: String(t.classIndex), peakX: String(t.peak?.x ?? ''), peakY: String(t.peak?.y ?? ''), view: v,
      noEvidence: String(t.noEvidence), kind: tv.kind,
    });
    const { title, detail } = caption(t, tv);
    fig.querySelector('.caption-title')!.textContent = title;
    fig.querySelector('.caption-detail')!.textContent = detail;
    canvas.setAttribute('aria-label', `${v} of the explanation: ${title}`);
    canvas.setAttribute('role', 'img');
  });
  ui.legend.hidden = v === 'original' || v === 'guided';
  drawColorbar(ui.legendBar, colormapTable(colormap));
}

function newFigure(): HTMLElement {
  const fig = document.createElement('figure');
  const canvas = document.createElement('canvas');
  const caption = document.createElement('figcaption');
  caption.append(
    Object.assign(document.createElement('strong'), { className: 'caption-title' }),
    Object.assign(document.createElement('span'), { className: 'caption-detail muted small' }),
  );
  fig.append(canvas, caption);
  return fig;
}

/** The maps shown, side by side, with their captions and the colour bar, as one PNG. */
function downloadPng(): void {
  const r = app.result;
  if (!r) return;
  const panels: Panel[] = [...ui.maps.querySelectorAll<HTMLElement>('figure')].map((fig) => ({
    canvas: fig.querySelector('canvas')!,
    title: fig.querySelector('.caption-title')!.textContent ?? '',
    detail: fig.querySelector('.caption-detail')!.textContent ?? '',
  }));
  const v = view();
  const footer = `image ${app.image?.name ?? ''} · model ${app.model?.name ?? ''} · ${v} view · gradcam`;
  const out = composePng(panels, footer, v === 'overlay' || v === 'heatmap' ? colormapTable(ui.colormap.value as ColormapName) : null);
  const classes = r.views.map((t) => (t.kind === 'contrast' ? `${t.classIndex}-vs-${t.otherIndex}` : String(t.classIndex))).join('+');
  out.toBlob((blob) => blob && download(blob, `${stem()}.${classes}${v === 'overlay' ? '' : `.${v}`}.png`), 'image/png');
}

// ---------- choosing classes ----------

function choose(slot: 'primary' | 'second', cls: number | null): void {
  app[slot] = cls;
  (slot === 'primary' ? ui.cls : ui.compare).value = cls === null ? '' : classText(cls);
  requestRun();
}

const synonyms = (label: string) => label.toLowerCase().split(',').map((s) => s.trim());

/** A typed class: `282`, `282: tiger cat` (the list's format), `tiger cat` or a synonym. */
function resolveTyped(text: string, labels: string[]): number {
  const t = (/^\d+:/.test(text) ? text.split(':')[0] : text).trim();
  if (/^\d+$/.test(t)) {
    const i = Number(t);
    if (i < labels.length) return i;
    throw new Error(`class index ${t} is out of range: valid indices are 0–${labels.length - 1}`);
  }
  const q = t.toLowerCase();
  const exact = labels.findIndex((l) => l.toLowerCase() === q);
  if (exact >= 0) return exact;
  const syn = labels.flatMap((l, i) => (synonyms(l).includes(q) ? [i] : []));
  if (syn.length === 1) return syn[0];
  const near = labels.flatMap((l, i) => (l.toLowerCase().includes(q) ? [`${i} "${l}"`] : [])).slice(0, 6);
  throw new Error(`unknown class '${t}'${syn.length > 1 ? ' (ambiguous)' : ''}: ${near.length ? `did you mean ${near.join(', ')}?` : 'type a label of the model or an index'}`);
}

function onClassInput(slot: 'primary' | 'second', input: HTMLInputElement): void {
  if (!app.model) return;
  const text = input.value.trim();
  if (!text) return choose(slot, null);
  try {
    choose(slot, resolveTyped(text, app.model.labels));
  } catch (e) {
    showError(e);
  }
}

function updateMethodNote(): void {
  const m = methodInfo();
  const agnostic = m ? !m.classSpecific : false;
  for (const el of [ui.cls, ui.compare, ui.clsClear, ui.compareClear]) el.disabled = agnostic;
  ui.pairing.disabled = agnostic;
  ui.methodNote.hidden = !m || (!agnostic && !m.slow);
  ui.methodNote.textContent = agnostic
    ? `${m!.title} is class-agnostic: it shows the strongest pattern in the layer, the same map whatever the class.`
    : m?.slow ? `${m.title} runs the network once per channel of the layer: seconds to minutes. You can cancel it.` : '';
}

// ---------- images ----------

async function openImage(file: File | Blob | undefined, name?: string): Promise<void> {
  if (!file) return;
  stopLive();
  clearError();
  let pixels: ImageData;
  try {
    pixels = await filePixels(file as File);
  } catch (e) {
    app.image = null;
    showError(e);
    return;
  }
  app.image = { pixels, name: name ?? ((file as File).name || 'pasted.png') };
  page.timings.imageChosen ??= performance.now();
  app.primary = app.second = null;
  ui.cls.value = ui.compare.value = '';
  clearResults('Explaining…');
  requestRun();
}

async function openSample(): Promise<void> {
  try {
    const blob = await (await fetch(sampleUrl)).blob();
    await openImage(new File([blob], 'chelsea.jpg', { type: blob.type }), 'chelsea.jpg');
  } catch (e) {
    showError(e);
  }
}

async function toggleLive(): Promise<void> {
  if (app.live) return stopLive();
  clearError();
  try {
    await startCamera(ui.video);
  } catch (e) {
    showError(e);
    return;
  }
  app.live = true;
  ui.camera.setAttribute('aria-pressed', 'true');
  ui.camera.textContent = 'Stop camera';
  requestRun();
}

function stopLive(): void {
  if (!app.live) return;
  app.live = false;
  stopCamera(ui.video);
  ui.camera.setAttribute('aria-pressed', 'false');
  ui.camera.textContent = 'Live camera';
}

// ---------- wiring ----------

const MODEL_FILE = /(\.keras|\.h5|\.onnx|model\.json)$/i;

ui.colormap.replaceChildren(...colormapNames().map((n) => new Option(n, n)));
ui.choose.addEventListener('click', () => ui.imageFile.click());
ui.sample.addEventListener('click', () => void openSample());
ui.imageFile.addEventListener('change', () => void openImage(ui.imageFile.files?.[0]).finally(() => { ui.imageFile.value = ''; }));
for (const el of [ui.drop, document.body]) {
  el.addEventListener('dragover', (e) => {
    e.preventDefault();
    ui.drop.classList.add('over');
  });
  el.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
  el.addEventListener('drop', (e) => {
    e.preventDefault();
    e.stopPropagation();
    ui.drop.classList.remove('over');
    const files = Array.from(e.dataTransfer?.files ?? []);
    const model = files.find((f) => MODEL_FILE.test(f.name)); // a dropped model (.keras, .h5, .onnx, or model.json with its shards)
    if (model) void openModel({ kind: 'files', files }, model.name);
    else void openImage(firstImage(e.dataTransfer?.files));
  });
}
document.addEventListener('paste', (e) => {
  const file = firstImage(e.clipboardData?.files);
  if (file) void openImage(file);
});
ui.camera.addEventListener('click', () => void toggleLive());
ui.cancel.addEventListener('click', () => void cancelRun());

ui.modelDefault.addEventListener('click', () => void loadDefaultModel());
ui.modelOpen.addEventListener('click', () => ui.modelFiles.click());
ui.modelFolder.addEventListener('click', () => ui.modelDir.click());
for (const input of [ui.modelFiles, ui.modelDir]) {
  input.addEventListener('change', () => {
    const files = Array.from(input.files ?? []);
    input.value = '';
    if (!files.length) return;
    const folder = files[0].webkitRelativePath?.split('/')[0] || undefined;
    const main = files.find((f) => f.name.endsWith('model.json')) ?? files[0];
    void openModel({ kind: 'files', files, folder }, folder ?? main.name);
  });
}

ui.cls.addEventListener('change', () => onClassInput('primary', ui.cls));
ui.compare.addEventListener('change', () => onClassInput('second', ui.compare));
ui.clsClear.addEventListener('click', () => choose('primary', null));
ui.compareClear.addEventListener('click', () => choose('second', null));
ui.pairing.addEventListener('change', () => { if (app.second !== null) requestRun(); });
ui.method.addEventListener('change', () => {
  updateMethodNote();
  requestRun();
});
ui.layer.addEventListener('change', requestRun);
document.querySelectorAll('input[name=view]').forEach((r) => r.addEventListener('change', () => {
  if (view() === 'guided' && !app.result?.views.every((v) => v.guided)) requestRun();
  else renderMaps();
}));
ui.colormap.addEventListener('change', renderMaps);
ui.opacity.addEventListener('input', () => {
  ui.opacityValue.textContent = `${Math.round(Number(ui.opacity.value) * 100)}%`;
  renderMaps();
});
ui.downloadPng.addEventListener('click', downloadPng);
ui.downloadJson.addEventListener('click', () => {
  if (page.json) download(new Blob([JSON.stringify(page.json, null, 2)], { type: 'application/json' }), `${stem()}.json`);
});

// Small screens: the settings start folded, so that the image and its map come first.
if (matchMedia('(max-width: 720px)').matches) ui.settings.open = false;

void loadDefaultModel();

/**
 * The web app: a thin shell over the library (`src/index.ts`). It reads the controls, calls
 * `explain` / `guidedGradcam`, and draws what they return with the library's `overlay` / `colorize`.
 * Images are decoded in the page and never sent anywhere; the only requests are the app's own files
 * and the model's.
 */
import {
  colorize, colormapNames, DEFAULT_MODEL_URL, explain, guidedGradcam, loadModelFromFiles, loadModelFromUrl, methods,
  overlay, resolveClass, saliencyImage, shapeText, toJson,
  type ColormapName, type ExplainableModel, type ExplainOptions, type ExplanationJson, type GuidedTarget,
  type ImageExplanation, type MethodName, type TargetExplanation,
} from 'gradcam';
import { backendDevice, initBrowserBackend } from './backend.js';
import { download, downloadCanvas, drawImage } from './draw.js';
import { filePixels, firstImage, framePixels, startCamera, stopCamera } from './sources.js';
import './style.css';

/** What the page shows, as `window.__gradcam` (read by the tests) and `<body data-state>`. */
export interface PageState {
  state: 'loading' | 'ready' | 'busy' | 'error';
  backend: string;
  model: string;
  /** The JSON report of the current explanation (the same as the download). */
  json: ExplanationJson | null;
  /** Explanations computed so far (grows every frame in live mode). */
  runs: number;
  error: string | null;
  warning: string | null;
}

type View = 'overlay' | 'heatmap' | 'original' | 'guided';

const params = new URLSearchParams(location.search);
/** The dev server serves ../shared/models; a production build loads the official hosted model. */
const DEFAULT_MODEL = params.get('model') ?? (__SERVED_MODELS__ ? '/models/mobilenet_v1_0.75_224/model.json' : DEFAULT_MODEL_URL);
const DEFAULT_MODEL_NAME = 'MobileNet v1 α=0.75';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  status: $('status'), error: $('error'), note: $('note'), drop: $('drop'), imageFile: $<HTMLInputElement>('image-file'),
  camera: $<HTMLButtonElement>('camera'), video: $<HTMLVideoElement>('video'),
  modelInfo: $('model-info'), modelDefault: $<HTMLButtonElement>('model-default'), modelOpen: $<HTMLButtonElement>('model-open'),
  modelFiles: $<HTMLInputElement>('model-files'),
  cls: $<HTMLInputElement>('class'), clsClear: $('class-clear'), compare: $<HTMLInputElement>('compare'), compareClear: $('compare-clear'),
  labels: $<HTMLDataListElement>('labels'), method: $<HTMLSelectElement>('method'), layer: $<HTMLSelectElement>('layer'),
  colormap: $<HTMLSelectElement>('colormap'), opacity: $<HTMLInputElement>('opacity'), opacityValue: $<HTMLOutputElement>('opacity-value'),
  maps: $('maps'), predictions: $<HTMLOListElement>('predictions'), downloadJson: $<HTMLButtonElement>('download-json'), backend: $('backend'),
};

const page: PageState = { state: 'loading', backend: '', model: '', json: null, runs: 0, error: null, warning: null };
window.__gradcam = page;

const app = {
  model: null as ExplainableModel | null,
  image: null as { pixels: ImageData; name: string } | null,
  /** The explained class (null: the top prediction) and the optional second one. */
  primary: null as number | null,
  second: null as number | null,
  result: null as ImageExplanation | null,
  guided: null as GuidedTarget[] | null,
  live: false,
};

// ---------- status and errors ----------

function setState(state: PageState['state'], message: string): void {
  page.state = state;
  document.body.dataset.state = state;
  ui.status.textContent = message;
}

function showError(e: unknown): void {
  const message = (e as Error).message?.split('\n')[0] || String(e);
  page.error = message;
  ui.error.textContent = message;
  ui.error.hidden = false;
  setState('error', 'Something went wrong (see above).');
}

function clearError(): void {
  page.error = null;
  ui.error.hidden = true;
}

const view = () => (document.querySelector<HTMLInputElement>('input[name=view]:checked')?.value ?? 'overlay') as View;
const nextPaint = () => new Promise<void>((r) => requestAnimationFrame(() => setTimeout(r, 0)));
const stem = () => (app.image?.name ?? 'image').replace(/\.[^.]+$/, '');
const classText = (i: number) => `${i}: ${app.model!.labels[i]}`;

// ---------- model ----------

async function openModel(load: (onProgress: (f: number) => void) => Promise<ExplainableModel>, name: string): Promise<void> {
  clearError();
  setState('loading', `Loading ${name}…`);
  let model: ExplainableModel | null = null;
  try {
    model = await load((f) => setState('loading', `Loading ${name}… ${Math.round(f * 100)}%`));
    model.resolveLayer('auto'); // a model without a spatial layer cannot be explained: say so now
  } catch (e) {
    model?.dispose();
    showError(e);
    return;
  }
  app.model?.dispose();
  Object.assign(app, { model, primary: null, second: null, result: null, guided: null });
  page.model = model.source;
  const [h, w] = model.preprocessing.size;
  ui.modelInfo.textContent = `${name}: ${model.labels.length} classes, ${w}×${h} input, ${model.format} model, ${model.layers.length} layers to explain.`;
  ui.labels.replaceChildren(...model.labels.map((_, i) => new Option(classText(i))));
  ui.layer.replaceChildren(
    new Option(`auto (${model.defaultLayer})`, 'auto'),
    ...model.layers.map((l) => new Option(`${l.name} ${shapeText(l)}`, l.name)),
  );
  ui.cls.value = ui.compare.value = '';
  setState('ready', app.image ? 'Model loaded.' : 'Ready: choose, drop or paste an image, or start the camera.');
  requestRun();
}

const loadDefaultModel = () => openModel((onProgress) => loadModelFromUrl(DEFAULT_MODEL, { onProgress }), DEFAULT_MODEL_NAME);

// ---------- explaining ----------

let pumping = false;
let dirty = false;

/** Asks for a new explanation; runs coalesce (the latest settings win), and live mode keeps running. */
function requestRun(): void {
  dirty = true;
  if (!pumping) void pump();
}

async function pump(): Promise<void> {
  pumping = true;
  try {
    while (app.model && ((dirty && app.image) || app.live)) {
      dirty = false;
      if (app.live) app.image = { pixels: framePixels(ui.video), name: 'camera.png' };
      else setState('busy', 'Explaining…');
      await nextPaint();
      try {
        await computeOnce();
      } catch (e) {
        stopLive();
        showError(e);
      }
    }
  } finally {
    pumping = false;
  }
}

async function computeOnce(): Promise<void> {
  const model = app.model!;
  const pixels = app.image!.pixels;
  const targets = [app.primary, app.second].filter((c): c is number => c !== null);
  const opts: ExplainOptions = {
    method: ui.method.value as MethodName,
    layer: ui.layer.value,
    targets,
    top: app.primary === null ? 1 : 0,
    onWarning: (w) => { page.warning = w; },
  };
  page.warning = null;
  const t0 = performance.now();
  if (view() === 'guided') {
    const [g] = await guidedGradcam(model, [pixels], opts);
    app.result = g.explanation;
    app.guided = g.targets;
  } else {
    [app.result] = await explain(model, [pixels], opts);
    app.guided = null;
  }
  const ms = performance.now() - t0;
  page.runs++;
  page.json = toJson(app.result, app.image!.name, model.source);
  clearError();
  ui.note.hidden = !page.warning;
  ui.note.textContent = page.warning && `Note: ${page.warning}.`;
  renderResult();
  const r = app.result;
  setState('ready', `${methods[r.method as MethodName]?.title ?? r.method} at ${r.layer} · ${ms.toFixed(0)} ms · ${r.backend}${app.live ? ' · live' : ''}`);
}

/** The targets in display order: the explained class first, then the comparison. */
function panelsOf(r: ImageExplanation): TargetExplanation[] {
  return app.primary === null && app.second !== null ? [...r.targets].reverse() : r.targets;
}

// ---------- rendering ----------

function renderResult(): void {
  const r = app.result;
  if (!r) return;
  const top = r.predictions[0];
  ui.cls.placeholder = `top prediction (${top.className})`;
  const shown = new Set(r.targets.map((t) => t.classIndex));
  ui.predictions.replaceChildren(...r.predictions.map((p) => {
    const li = document.createElement('li');
    const explainBtn = button(`${p.className}`, () => choose('primary', p.classIndex), 'pred');
    explainBtn.setAttribute('aria-pressed', String(shown.has(p.classIndex)));
    explainBtn.dataset.class = String(p.classIndex);
    explainBtn.style.setProperty('--p', String(p.probability));
    explainBtn.append(Object.assign(document.createElement('span'), { className: 'prob', textContent: `${(p.probability * 100).toFixed(1)}%` }));
    const vs = button('vs', () => choose('second', p.classIndex), 'vs');
    vs.setAttribute('aria-label', `Compare with ${p.className}`);
    li.append(explainBtn, vs);
    return li;
  }));
  ui.downloadJson.disabled = false;
  renderMaps();
}

function button(text: string, onClick: () => void, className = ''): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

/** One figure per explained class; redrawn when only the display settings change. */
function renderMaps(): void {
  const r = app.result;
  const image = app.image?.pixels;
  if (!r || !image) return;
  const panels = panelsOf(r);
  const figures = [...ui.maps.querySelectorAll<HTMLElement>('figure')];
  if (figures.length !== panels.length) {
    ui.maps.replaceChildren(...panels.map(() => newFigure()));
  }
  const colormap = ui.colormap.value as ColormapName;
  const alpha = Number(ui.opacity.value);
  ui.maps.querySelectorAll<HTMLElement>('figure').forEach((fig, i) => {
    const t = panels[i];
    const guided = app.guided?.find((g) => g.classIndex === t.classIndex);
    const canvas = fig.querySelector('canvas')!;
    const v = view();
    const picture =
      v === 'original' ? image
      : v === 'heatmap' ? colorize(t.heatmap, { colormap })
      : v === 'guided' && guided?.guidedGradcam ? saliencyImage(guided.guidedGradcam, guided.width, guided.height)
      : overlay(image, t.heatmap, { colormap, alpha });
    drawImage(canvas, picture, image.width, image.height);
    Object.assign(fig.dataset, {
      class: String(t.classIndex), peakX: String(t.peak?.x ?? ''), peakY: String(t.peak?.y ?? ''), view: v,
    });
    const peak = t.peak ? `peak (${t.peak.x}, ${t.peak.y})` : 'no positive evidence at this layer';
    fig.querySelector('.caption-text')!.textContent = `${t.className} · ${(t.probability * 100).toFixed(1)}% · ${peak}`;
    canvas.setAttribute('aria-label', `${v} of the explanation of ${t.className}`);
    canvas.setAttribute('role', 'img');
  });
}

function newFigure(): HTMLElement {
  const fig = document.createElement('figure');
  const canvas = document.createElement('canvas');
  const caption = document.createElement('figcaption');
  const text = Object.assign(document.createElement('span'), { className: 'caption-text' });
  const png = button('PNG', () => {
    const v = view();
    downloadCanvas(canvas, `${stem()}.${fig.dataset.class}${v === 'overlay' ? '' : `.${v}`}.png`);
  }, 'small');
  png.setAttribute('aria-label', 'Download this picture as PNG');
  caption.append(text, png);
  fig.append(canvas, caption);
  return fig;
}

// ---------- choosing classes ----------

function choose(slot: 'primary' | 'second', cls: number | null): void {
  app[slot] = cls;
  (slot === 'primary' ? ui.cls : ui.compare).value = cls === null ? '' : classText(cls);
  requestRun();
}

/** A typed class: `282`, `282: tiger cat` (the list's format), `tiger cat` or a synonym. */
function onClassInput(slot: 'primary' | 'second', input: HTMLInputElement): void {
  if (!app.model) return;
  const text = input.value.trim();
  if (!text) return choose(slot, null);
  try {
    choose(slot, resolveClass(/^\d+:/.test(text) ? text.split(':')[0] : text, app.model.labels));
  } catch (e) {
    showError(e);
  }
}

// ---------- images ----------

async function openImage(file: File | undefined): Promise<void> {
  if (!file) return;
  stopLive();
  clearError();
  try {
    app.image = { pixels: await filePixels(file), name: file.name || 'pasted.png' };
  } catch (e) {
    showError(e);
    return;
  }
  app.primary = app.second = null;
  ui.cls.value = ui.compare.value = '';
  if (!app.model) setState('loading', 'Image ready; waiting for the model…');
  requestRun();
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

ui.method.replaceChildren(...Object.entries(methods).map(([name, m]) => new Option(m.title, name)));
ui.colormap.replaceChildren(...colormapNames().map((n) => new Option(n, n)));

ui.drop.addEventListener('click', () => ui.imageFile.click());
ui.drop.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    ui.imageFile.click();
  }
});
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
    void openImage(firstImage(e.dataTransfer?.files));
  });
}
document.addEventListener('paste', (e) => {
  const file = firstImage(e.clipboardData?.files);
  if (file) void openImage(file);
});
ui.camera.addEventListener('click', () => void toggleLive());

ui.modelDefault.addEventListener('click', () => void loadDefaultModel());
ui.modelOpen.addEventListener('click', () => ui.modelFiles.click());
ui.modelFiles.addEventListener('change', () => {
  const files = Array.from(ui.modelFiles.files ?? []);
  ui.modelFiles.value = '';
  if (files.length) void openModel((onProgress) => loadModelFromFiles(files, { onProgress }), files.find((f) => f.name.endsWith('model.json'))?.name ?? 'your model');
});

ui.cls.addEventListener('change', () => onClassInput('primary', ui.cls));
ui.compare.addEventListener('change', () => onClassInput('second', ui.compare));
ui.clsClear.addEventListener('click', () => choose('primary', null));
ui.compareClear.addEventListener('click', () => choose('second', null));
ui.method.addEventListener('change', requestRun);
ui.layer.addEventListener('change', requestRun);
document.querySelectorAll('input[name=view]').forEach((r) => r.addEventListener('change', () => {
  if (view() === 'guided' && !app.guided) requestRun();
  else renderMaps();
}));
ui.colormap.addEventListener('change', renderMaps);
ui.opacity.addEventListener('input', () => {
  ui.opacityValue.textContent = `${Math.round(Number(ui.opacity.value) * 100)}%`;
  renderMaps();
});
ui.downloadJson.addEventListener('click', () => {
  if (page.json) download(new Blob([JSON.stringify(page.json, null, 2)], { type: 'application/json' }), `${stem()}.json`);
});

// ---------- start ----------

try {
  page.backend = await initBrowserBackend(params.get('backend'));
  ui.backend.textContent = backendDevice();
  await loadDefaultModel();
} catch (e) {
  showError(e);
}

/**
 * The detector view: load a detector (the bundled demo ones on the dev server, or your own files),
 * pick an image, see the boxes; click or Tab to a box to see its map (computed on demand, then kept).
 * A thin shell over the library's `detect` / detection targets; the image never leaves the page.
 */
import {
  classColor, defaultExplanation, detectBoxes, detectionTargets, explain, inBox, loadModelFromFiles, loadModelFromUrl, overlay, toDetector,
  type Detection, type Detector, type ExplainableModel, type Grid,
} from 'gradcam';
import { initBrowserBackend } from './backend.js';
import './detect.css';

/** What the page shows, as `window.__detect` (read by the tests) and `<body data-state>`. */
export interface DetectPageState {
  state: 'loading' | 'ready' | 'busy' | 'error';
  backend: string;
  model: string;
  detections: { className: string; score: number; box: number[]; peak?: { x: number; y: number } | null }[];
  selected: number | null;
  error: string | null;
}

declare global { interface Window { __detect?: DetectPageState } }

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  status: $('status'), error: $('error'), demo: $('demo-models'), modelOpen: $<HTMLButtonElement>('model-open'),
  modelFiles: $<HTMLInputElement>('model-files'), modelInfo: $('model-info'), imageFile: $<HTMLInputElement>('image-file'),
  canvas: $<HTMLCanvasElement>('canvas'), boxes: $('boxes'), caption: $('caption'),
};
const page: DetectPageState = { state: 'loading', backend: '', model: '', detections: [], selected: null, error: null };
window.__detect = page;

const app = { detector: null as Detector | null, image: null as ImageData | null, detections: [] as Detection[], maps: new Map<number, { heatmap: Grid; peak: { x: number; y: number } | null }>() };

/** Demo detectors: the shared folders, served by the dev server under /models/. */
const DEMOS = __SERVED_MODELS__ ? [['CenterNet', '/models/detect/centernet/model.json'], ['NanoDet', '/models/detect/nanodet/model.json']] : [];

function setState(state: DetectPageState['state'], message: string): void {
  page.state = state;
  document.body.dataset.state = state;
  ui.status.textContent = message;
}

function showError(e: unknown): void {
  page.error = (e as Error).message?.split('\n')[0] || String(e);
  ui.error.textContent = page.error;
  ui.error.hidden = false;
  setState('error', 'Something went wrong (see above).');
}

async function useModel(load: () => Promise<ExplainableModel>, label: string): Promise<void> {
  setState('busy', `Loading ${label}…`);
  ui.error.hidden = true;
  try {
    const model = await load();
    const detector = toDetector(model);
    app.detector?.model.dispose();
    app.detector = detector;
    page.model = model.name;
    ui.modelInfo.textContent = `${model.name}: ${detector.config.layout}, ${detector.config.labels.length} classes, input ${detector.config.preprocessing.size.join('×')}`;
    setState('ready', 'Ready: choose an image.');
    if (app.image) await run();
  } catch (e) {
    showError(e);
  }
}

async function decode(file: File): Promise<ImageData> {
  const bitmap = await createImageBitmap(file);
  const c = document.createElement('canvas');
  c.width = bitmap.width;
  c.height = bitmap.height;
  const ctx = c.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  return ctx.getImageData(0, 0, c.width, c.height);
}

function draw(heatmap?: Grid): void {
  const img = app.image!;
  ui.canvas.width = img.width;
  ui.canvas.height = img.height;
  const ctx = ui.canvas.getContext('2d')!;
  if (!heatmap) { ctx.putImageData(img, 0, 0); return; }
  const rgb = overlay({ data: img.data, width: img.width, height: img.height, channels: 4 }, heatmap, { alpha: 0.5 });
  const rgba = new ImageData(img.width, img.height);
  for (let i = 0; i < img.width * img.height; i++) {
    rgba.data.set([rgb.data[i * 3], rgb.data[i * 3 + 1], rgb.data[i * 3 + 2], 255], i * 4);
  }
  ctx.putImageData(rgba, 0, 0);
}

function showBoxes(): void {
  const { width, height } = app.image!;
  ui.boxes.replaceChildren(...app.detections.map((d, k) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'box';
    b.setAttribute('role', 'option');
    b.setAttribute('aria-selected', 'false');
    b.dataset.index = String(k);
    const [x1, y1, x2, y2] = [Math.max(0, d.box[0]), Math.max(0, d.box[1]), Math.min(width, d.box[2]), Math.min(height, d.box[3])];
    Object.assign(b.style, { left: `${(100 * x1) / width}%`, top: `${(100 * y1) / height}%`, width: `${(100 * (x2 - x1)) / width}%`, height: `${(100 * (y2 - y1)) / height}%` });
    b.style.setProperty('--c', classColor(d.classIndex));
    const label = document.createElement('span');
    label.textContent = `${d.className} ${d.score.toFixed(2)}`;
    b.append(label);
    b.setAttribute('aria-label', `${d.className}, score ${d.score.toFixed(2)}`);
    b.addEventListener('click', () => void select(k));
    b.addEventListener('focus', () => void select(k));
    return b;
  }));
}

async function select(k: number): Promise<void> {
  if (page.selected === k || !app.detector) return;
  page.selected = k;
  ui.boxes.classList.add('selected');
  ui.boxes.querySelectorAll<HTMLButtonElement>('.box').forEach((b) => b.setAttribute('aria-selected', String(Number(b.dataset.index) === k)));
  const d = app.detections[k];
  let map = app.maps.get(k);
  if (!map) {
    setState('busy', `Explaining the ${d.className} box…`);
    try {
      const how = defaultExplanation(app.detector);
      const [e] = await explain(app.detector.model, [app.image!], { method: how.method, targets: [[detectionTargets(app.detector, app.detections)[k]]], top: 0, layer: how.layer });
      map = { heatmap: e.targets[0].heatmap, peak: e.targets[0].peak };
      app.maps.set(k, map);
      page.detections[k].peak = map.peak;
    } catch (err) {
      showError(err);
      return;
    }
  }
  if (page.selected !== k) return; // another box was chosen meanwhile
  draw(map.heatmap);
  ui.caption.textContent = `${d.className} ${d.score.toFixed(2)}: the map peaks ${map.peak ? (inBox(map.peak, d.box) ? 'inside' : 'outside') : 'nowhere (no positive evidence)'} its box.`;
  setState('ready', `${app.detections.length} box(es). Showing the map of box ${k}.`);
}

async function run(): Promise<void> {
  if (!app.detector || !app.image) return;
  setState('busy', 'Detecting…');
  try {
    app.detections = await detectBoxes(app.detector, app.image);
    app.maps.clear();
    page.selected = null;
    page.detections = app.detections.map((d) => ({ className: d.className, score: d.score, box: d.box.slice() }));
    ui.boxes.classList.remove('selected');
    draw();
    showBoxes();
    ui.caption.textContent = app.detections.length ? '' : 'No objects found above the detector\'s threshold.';
    setState('ready', `${app.detections.length} box(es). Click or Tab to one to see its map.`);
  } catch (e) {
    showError(e);
  }
}

ui.imageFile.addEventListener('change', async () => {
  const file = ui.imageFile.files?.[0];
  if (!file) return;
  try {
    app.image = await decode(file);
    await run();
  } catch (e) {
    showError(e);
  }
});
ui.modelOpen.addEventListener('click', () => ui.modelFiles.click());
ui.modelFiles.addEventListener('change', () => {
  const files = [...(ui.modelFiles.files ?? [])];
  if (files.length) void useModel(() => loadModelFromFiles(files), 'your detector');
});
for (const [name, url] of DEMOS) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = name;
  b.addEventListener('click', () => void useModel(() => loadModelFromUrl(url), name));
  ui.demo.append(b);
}

page.backend = await initBrowserBackend(new URLSearchParams(location.search).get('backend') ?? 'wasm');
const wanted = new URLSearchParams(location.search).get('model');
if (wanted) await useModel(() => loadModelFromUrl(wanted), wanted);
else if (DEMOS.length) await useModel(() => loadModelFromUrl(DEMOS[0][1]), DEMOS[0][0]);
else setState('ready', 'Load your detector (model.json and its weight files).');

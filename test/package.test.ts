/**
 * The package as a stranger gets it: built (`npm run build`), packed (`npm pack`) and installed from the
 * tarball into a temp project, offline (see consumer.ts) — once for this file. Then, each asserting a
 * real explanation (the tiger cat's peak on the cat, the bull mastiff's on the dog):
 * 1. plain Node ESM (`gradcam/node`) and the installed `gradcam` CLI, which runs dist/, not tsx;
 * 2. a TypeScript project type-checks against the published declarations (and a wrong call fails);
 * 3. a Vite app importing `gradcam` builds (tree-shaken), is served as static files and explains in headless Chromium;
 * 4. the standalone `gradcam.browser.js` from a static page's `<script type="module">`;
 * 5. `npm run web:build`'s output served from a sub-path (`/demo/`, as on GitHub Pages).
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../web/serve.js';
import { buildAndPack, installConsumer, run, serveStatic } from './consumer.js';
import { MODEL_025, REPO_ROOT, SHARED_DIR, sharedImage } from './helpers.js';

const CAT_DOG = sharedImage('cat_dog.jpg'); // 640×480: a bull mastiff sitting behind, a tiger cat lying in front
const BOXES = JSON.parse(readFileSync(path.join(REPO_ROOT, 'docs/boxes.json'), 'utf8')) as Record<string, Record<string, number[][]>>;
const [CAT_BOX] = BOXES['cat_dog.jpg'].cat; // [x0, y0, x1, y1]
const H = 480;

interface Peak { x: number; y: number }
/** The tiger cat's peak inside the cat's box and in the lower part; the bull mastiff's in the upper half. */
function expectCatAndDog(cat: Peak, dog: Peak): void {
  expect(cat.x).toBeGreaterThanOrEqual(CAT_BOX[0]);
  expect(cat.x).toBeLessThanOrEqual(CAT_BOX[2]);
  expect(cat.y).toBeGreaterThanOrEqual(CAT_BOX[1]);
  expect(cat.y).toBeGreaterThan(0.55 * H);
  expect(dog.y).toBeLessThan(0.5 * H);
}

let tmp: string;
let app: string; // the consumer project
let tarball: string;
let browser: Browser;
let statics: Awaited<ReturnType<typeof serveStatic>>;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'gradcam-package-'));
  app = path.join(tmp, 'app');
  mkdirSync(app);
  [{ tarball }, browser] = await Promise.all([buildAndPack(tmp), launchChromium()]);
  await installConsumer(app, tarball);
  mkdirSync(path.join(tmp, 'www'));
  statics = await serveStatic({
    '/models/': path.join(SHARED_DIR, 'models'),
    '/images/': path.join(SHARED_DIR, 'images'),
    '/': path.join(tmp, 'www'),
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await statics?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds compiled JavaScript, declarations and the browser bundle, and no sources or tests', () => {
    const root = path.join(app, 'node_modules/gradcam');
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.version).toBe('0.2.0');
    expect(pkg.private).toBeUndefined();
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/node/index.js', 'dist/node/index.d.ts', 'dist/cli/main.js', 'dist/gradcam.browser.js', 'bin/gradcam.js', 'README.md', 'LICENSE', 'CHANGELOG.md']) {
      expect(existsSync(path.join(root, f)), f).toBe(true);
    }
    for (const f of ['src', 'test', 'web', 'bench', 'tsconfig.json']) expect(existsSync(path.join(root, f)), f).toBe(false);
    const files = readdirSync(path.join(root, 'dist'), { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    // A stranger's install has no TypeScript runtime, no test tools and no optional peers.
    for (const dep of ['tsx', 'typescript', 'vitest', 'vite', 'playwright-core', 'onnxruntime-node', 'onnxruntime-web']) {
      expect(existsSync(path.join(app, 'node_modules', dep)), dep).toBe(false);
    }
  });

  it('the web app imports the library by its package name only (the dev-only bench page aside)', () => {
    const dir = path.join(REPO_ROOT, 'web/src');
    const deep: string[] = [];
    for (const f of readdirSync(dir, { recursive: true }).map(String).filter((f) => /\.tsx?$/.test(f) && f !== 'bench.ts')) {
      for (const m of readFileSync(path.join(dir, f), 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        if (/(^|\/)src\//.test(m[1]) || m[1].startsWith('../../')) deep.push(`${f}: ${m[1]}`);
      }
    }
    expect(deep).toEqual([]);
    expect(readFileSync(path.join(dir, 'main.ts'), 'utf8')).toMatch(/from 'gradcam'/);
  });

  it('1. plain Node ESM explains cat_dog.jpg: the tiger cat on the cat, the mastiff on the dog; no tensor leaks', async () => {
    writeFileSync(path.join(app, 'explain.mjs'), `
import * as tf from '@tensorflow/tfjs';
import { initBackend, loadModel, readImage, explain } from 'gradcam/node';
import { auc } from 'gradcam/metrics';
if (auc([0, 1]) !== 0.5) throw new Error('gradcam/metrics: auc');
await initBackend('wasm');
const model = await loadModel(process.argv[2]);
const image = await readImage(process.argv[3]);
const before = tf.memory().numTensors;
const [result] = await explain(model, [image], { targets: ['tiger cat', 'bull mastiff'] });
const after = tf.memory().numTensors;
console.log(JSON.stringify({ width: image.width, height: image.height, peaks: result.targets.map((t) => t.peak), leaked: after - before }));
`);
    const { stdout } = await run('node', ['explain.mjs', MODEL_025, CAT_DOG], app);
    const out = JSON.parse(stdout.trim().split('\n').pop()!) as { width: number; height: number; peaks: Peak[]; leaked: number };
    expect([out.width, out.height]).toEqual([640, H]);
    expectCatAndDog(out.peaks[0], out.peaks[1]);
    expect(out.leaked).toBe(0);
  });

  it('1b. the installed CLI (`npx gradcam`) runs the compiled JavaScript and writes the overlay and JSON', async () => {
    const bin = readFileSync(path.join(app, 'node_modules/gradcam/bin/gradcam.js'), 'utf8');
    expect(bin).toContain('dist/cli/main.js');
    const out = path.join(app, 'out');
    await run('npx', ['--offline', '--no-install', 'gradcam', 'explain', CAT_DOG, '--model', MODEL_025, '--class', '282', '--out', out], app);
    const json = JSON.parse(readFileSync(path.join(out, 'cat_dog.json'), 'utf8')) as { targets: { classIndex: number; peak: Peak }[] };
    expect(json.targets[0].classIndex).toBe(282);
    expect(json.targets[0].peak.y).toBeGreaterThan(0.55 * H);
    expect(readdirSync(out).filter((f) => f.endsWith('.png')).length).toBeGreaterThan(0);
    // Bad input: one line on stderr, non-zero exit.
    const bad = await run('npx', ['--offline', '--no-install', 'gradcam', 'explain', path.join(app, 'nope.jpg'), '--model', MODEL_025, '--out', out], app).catch((e: Error) => e);
    expect(bad).toBeInstanceOf(Error);
    expect((bad as Error).message).toMatch(/error: .*nope\.jpg/);
  });

  it('2. a TypeScript project type-checks against the published declarations; a wrong call does not', async () => {
    const dir = path.join(app, 'ts');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true,
        lib: ['ES2022', 'DOM'], types: ['node'], typeRoots: [path.join(REPO_ROOT, 'node_modules/@types')],
      },
      include: ['good.ts'],
    }));
    writeFileSync(path.join(dir, 'good.ts'), `
import { initBackend, loadModel, readImage, explain, overlay, encodePng, type ExplainableModel } from 'gradcam/node';
import { methods, type ExplainOptions, type ImageExplanation } from 'gradcam';
import * as standalone from 'gradcam/browser';
const picked: Promise<boolean> = standalone.tf.setBackend('cpu');
const same: typeof explain = standalone.explain;
await initBackend('wasm');
const model: ExplainableModel = await loadModel('model');
const image = await readImage('cat_dog.jpg');
const options: ExplainOptions = { method: 'gradcam++', targets: ['tiger cat', 243] };
const [result]: ImageExplanation[] = await explain(model, [image], options);
const peak: { x: number; y: number } | null | undefined = result.targets[0].peak;
const rgb = overlay(image, result.targets[0].heatmap, { colormap: 'jet', alpha: 0.5 });
const png: Uint8Array | Buffer = await encodePng(rgb.data, rgb.width, rgb.height);
console.log(peak, png.length, Object.keys(methods).length, picked, same);
`);
    const tsc = path.join(REPO_ROOT, 'node_modules/.bin/tsc');
    await run(tsc, ['-p', dir], dir);
    // The types are real: a misspelt option and a wrong method name are errors.
    writeFileSync(path.join(dir, 'bad.ts'), `
import { explain, type ExplainableModel } from 'gradcam';
declare const model: ExplainableModel;
await explain(model, [], { methd: 'gradcam' });
await explain(model, [], { method: 'no-such-method' });
`);
    writeFileSync(path.join(dir, 'tsconfig.bad.json'), JSON.stringify({ extends: './tsconfig.json', include: ['bad.ts'] }));
    const bad = await run(tsc, ['-p', path.join(dir, 'tsconfig.bad.json')], dir).catch((e: Error) => e.message);
    expect(bad).toMatch(/bad\.ts\(4,.*methd/);
    expect(bad).toMatch(/bad\.ts\(5,.*no-such-method/);
  });

  it('3. a Vite app that imports `gradcam` builds, is served as static files and explains in Chromium', async () => {
    const dir = path.join(app, 'vite-app');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>gradcam in a Vite app</title><script type="module" src="./main.js"></script>');
    writeFileSync(path.join(dir, 'main.js'), `
import * as tf from '@tensorflow/tfjs';
import { loadModelFromUrl, explain } from 'gradcam';
window.result = (async () => {
  await tf.setBackend('cpu');
  const model = await loadModelFromUrl('/models/mobilenet_v1_0.25_224/model.json');
  const img = new Image();
  img.src = '/images/cat_dog.jpg';
  await img.decode();
  const [r] = await explain(model, [img], { targets: ['tiger cat', 'bull mastiff'] });
  return { backend: tf.getBackend(), width: r.width ?? img.naturalWidth, peaks: r.targets.map((t) => t.peak) };
})().catch((e) => ({ error: String(e.stack ?? e) }));
`);
    const outDir = path.join(tmp, 'www/vite-app');
    await build({ root: dir, configFile: false, logLevel: 'warn', base: './', build: { outDir, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4000 } });
    const js = readdirSync(path.join(outDir, 'assets')).filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(0);
    // Tree-shaken: the ROAD metric's imputation (exported through `evaluate`, so in the full standalone bundle)
    // is not in an app that only explains.
    const marker = 'every pixel is removed; nothing to impute from';
    expect(readFileSync(path.join(app, 'node_modules/gradcam/dist/gradcam.browser.js'), 'utf8')).toContain(marker);
    expect(js.map((f) => readFileSync(path.join(outDir, 'assets', f), 'utf8')).join('\n')).not.toContain(marker);
    const result = await pageResult(`${statics.url}/vite-app/`);
    expectCatAndDog(result.peaks[0], result.peaks[1]);
  });

  it('4. the standalone gradcam.browser.js works from a static page with <script type="module">', async () => {
    const dir = path.join(tmp, 'www/standalone');
    mkdirSync(dir, { recursive: true });
    cpSync(path.join(app, 'node_modules/gradcam/dist/gradcam.browser.js'), path.join(dir, 'gradcam.browser.js'));
    writeFileSync(path.join(dir, 'index.html'), `<!doctype html><title>gradcam.browser.js</title>
<script type="module">
import * as gradcam from './gradcam.browser.js';
window.result = (async () => {
  await gradcam.tf.setBackend('cpu');
  const model = await gradcam.loadModelFromUrl('/models/mobilenet_v1_0.25_224/model.json');
  const img = new Image();
  img.src = '/images/cat_dog.jpg';
  await img.decode();
  const [r] = await gradcam.explain(model, [img], { targets: ['tiger cat', 'bull mastiff'] });
  return { backend: gradcam.tf.getBackend(), peaks: r.targets.map((t) => t.peak) };
})().catch((e) => ({ error: String(e.stack ?? e) }));
</script>`);
    const requests: string[] = [];
    const result = await pageResult(`${statics.url}/standalone/`, (p) => p.on('request', (r) => requests.push(new URL(r.url()).pathname)));
    expectCatAndDog(result.peaks[0], result.peaks[1]);
    // Self-contained: the page fetched the bundle and the model, no other script.
    expect(requests.filter((r) => r.endsWith('.js'))).toEqual(['/standalone/gradcam.browser.js']);
    // ONNX Runtime Web stays outside the bundle (an optional peer: inlined with its wasm, 77 MB).
    expect(statSync(path.join(dir, 'gradcam.browser.js')).size).toBeLessThan(3 * 2 ** 20);
  });

  it('5. `npm run web:build` output works served from a sub-path (/demo/)', async () => {
    const outDir = path.join(tmp, 'www/demo');
    await run('npm', ['run', 'web:build', '--silent', '--', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], REPO_ROOT);
    const page = await browser.newPage();
    try {
      page.setDefaultTimeout(60_000);
      const failed: string[] = [];
      const paths: string[] = [];
      page.on('request', (r) => paths.push(new URL(r.url()).pathname));
      page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
      await page.goto(`${statics.url}/demo?model=/models/mobilenet_v1_0.25_224/model.json`);
      expect(new URL(page.url()).pathname).toBe('/demo/');
      await page.waitForFunction(() => (window as unknown as { __gradcam?: { state: string } }).__gradcam?.state === 'ready', null, { timeout: 90_000 });
      await page.setInputFiles('#image-file', CAT_DOG);
      await page.waitForFunction(() => (window as unknown as { __gradcam: { runs: number; state: string } }).__gradcam.runs > 0, null, { timeout: 90_000 });
      await page.fill('#class', 'tiger cat');
      await page.press('#class', 'Enter');
      await page.waitForFunction(() => {
        const s = (window as unknown as { __gradcam: { json?: { targets: { classIndex: number }[] }; state: string } }).__gradcam;
        return s.state !== 'busy' && s.json?.targets[0]?.classIndex === 282;
      }, null, { timeout: 90_000 });
      const json = await page.evaluate(() => (window as unknown as { __gradcam: { json: { targets: { peak: Peak }[] } } }).__gradcam.json);
      expect(json.targets[0].peak.y).toBeGreaterThan(0.55 * H);
      // Every asset came from under /demo/ (the model from /models/ as asked); nothing 404'd.
      expect(failed).toEqual([]);
      expect(paths.filter((p) => !p.startsWith('/demo/') && !p.startsWith('/models/mobilenet_v1_0.25_224/'))).toEqual(['/demo']);
      expect(paths.filter((p) => /\.(js|css|wasm)$/.test(p)).length).toBeGreaterThan(2);
    } finally {
      await page.close();
    }
  });
});

/** Opens a page that sets `window.result` (a promise) and returns its value; fails with the page's error. */
async function pageResult(url: string, setup?: (p: Page) => void): Promise<{ peaks: Peak[]; backend: string }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  setup?.(page);
  try {
    await page.goto(url);
    await page.waitForFunction(() => 'result' in window, null, { timeout: 60_000 });
    const result = await page.evaluate(() => (window as unknown as { result: Promise<unknown> }).result) as { peaks: Peak[]; backend: string; error?: string };
    expect(result.error, result.error).toBeUndefined();
    expect(errors).toEqual([]);
    return result;
  } finally {
    await page.close();
  }
}

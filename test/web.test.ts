/**
 * The web app end to end, in headless Chromium against the Vite dev server: cat vs dog from a picked
 * file, user models from file inputs (GraphModel, LayersModel, broken ones), the live camera (a fake
 * device), keyboard and phone layout — and that no request ever carries image data or leaves loopback.
 * Screenshots go to test-output/web/.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Browser, Page, Request } from 'playwright-core';
import { build, preview } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_URL } from '../src/model/load.js';
import { initBackend } from '../src/node/backend.js';
import type { ExplanationJson } from '../src/render/json.js';
import { launchChromium, startWebServer } from '../web/serve.js';
import type { PageState } from '../web/src/main.js';
import { MODEL_025, MODEL_GRAPH, REPO_ROOT, sharedImage } from './helpers.js';

const SHOTS = path.join(REPO_ROOT, 'test-output/web');
const CAT_DOG = sharedImage('cat_dog.jpg'); // 640×480: bull mastiff sitting behind, tiger cat lying in front
const H = 480;

let server: Awaited<ReturnType<typeof startWebServer>>;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  [server, browser] = await Promise.all([
    startWebServer(),
    launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const state = (page: Page) => page.evaluate(() => window.__gradcam as PageState);

/** Opens the app with every request recorded; waits until the default model is loaded. */
async function open(viewport = { width: 1280, height: 900 }, query = ''): Promise<{ page: Page; requests: Request[]; errors: string[] }> {
  const page = await browser.newPage({ viewport });
  page.setDefaultTimeout(60_000);
  const requests: Request[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requests.push(r));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(server.url + query);
  await page.waitForFunction(() => window.__gradcam?.model && window.__gradcam.state === 'ready', null, { timeout: 60_000 });
  return { page, requests, errors };
}

/** Waits for the next explanation after `runs` and returns its JSON. */
async function explained(page: Page, runs: number): Promise<ExplanationJson> {
  await page.waitForFunction((n) => window.__gradcam!.runs > n && window.__gradcam!.state !== 'busy', runs, { timeout: 60_000 });
  const s = await state(page);
  expect(s.error).toBeNull();
  return s.json!;
}

/** Applies `action` and waits for the explanation it causes. */
async function after(page: Page, action: () => Promise<unknown>): Promise<ExplanationJson> {
  const { runs } = await state(page);
  await action();
  return explained(page, runs);
}

const target = (json: ExplanationJson, cls: number) => json.targets.find((t) => t.classIndex === cls)!;

async function typeClass(page: Page, input: '#class' | '#compare', text: string): Promise<void> {
  await page.fill(input, text);
  await page.press(input, 'Enter');
}

describe('web app', () => {
  it('explains the cat, then the dog, then both side by side; the JSON offered is the page\'s; nothing leaves the page', async () => {
    const { page, requests, errors } = await open();
    const first = requests.length;
    expect((await state(page)).backend).toMatch(/^(webgl|wasm|cpu)$/);

    let json = await after(page, () => page.setInputFiles('#image-file', CAT_DOG));
    expect([json.width, json.height]).toEqual([640, H]);
    expect(json.predictions).toHaveLength(5);
    expect(json.targets[0].classIndex).toBe(json.predictions[0].classIndex); // no class chosen: the top one
    expect(await page.locator('#predictions .pred').count()).toBe(5);
    expect(await page.locator('#method option').allTextContents()).toContain('Grad-CAM');
    expect(await page.locator('#layer option').count()).toBeGreaterThan(10);

    json = await after(page, () => typeClass(page, '#class', '282'));
    expect(json.targets.map((t) => t.classIndex)).toEqual([282]);
    expect(json.targets[0].className).toBe('tiger cat');
    expect(json.targets[0].peak!.y).toBeGreaterThan(0.55 * H);
    await page.screenshot({ path: path.join(SHOTS, 'cat.png') });

    json = await after(page, () => page.click('#predictions .pred[data-class="243"]'));
    expect(json.targets.map((t) => t.classIndex)).toEqual([243]);
    expect(json.targets[0].peak!.y).toBeLessThan(0.5 * H);

    json = await after(page, () => typeClass(page, '#compare', 'tiger cat'));
    expect(json.targets.map((t) => t.classIndex)).toEqual([243, 282]);
    expect(target(json, 243).peak!.y).toBeLessThan(0.5 * H);
    expect(target(json, 282).peak!.y).toBeGreaterThan(0.55 * H);
    const figures = page.locator('#maps figure');
    expect(await figures.evaluateAll((fs) => fs.map((f) => [f.dataset.class, Number(f.dataset.peakY)]))).toEqual([
      ['243', target(json, 243).peak!.y], ['282', target(json, 282).peak!.y],
    ]);
    await page.screenshot({ path: path.join(SHOTS, 'cat-vs-dog.png'), fullPage: true });

    // The JSON download is the page's state, in the CLI's schema.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
    expect(download.suggestedFilename()).toBe('cat_dog.json');
    const offered = JSON.parse(readFileSync((await download.path())!, 'utf8')) as ExplanationJson;
    expect(offered).toEqual(json);
    expect(Object.keys(offered)).toEqual(['image', 'width', 'height', 'model', 'method', 'layer', 'backend', 'predictions', 'targets']);
    expect(offered.model).toMatch(/mobilenet_v1_0\.75_224\/model\.json$/);

    // Another method: recomputed. Display-only changes: not recomputed.
    json = await after(page, () => page.selectOption('#method', 'gradcam++'));
    expect(json.method).toBe('gradcam++');
    expect(target(json, 282).peak!.y).toBeGreaterThan(0.55 * H);
    const { runs } = await state(page);
    await page.check('input[name=view][value=heatmap]');
    await page.selectOption('#colormap', 'viridis');
    await page.fill('#opacity', '0.8');
    expect((await state(page)).runs).toBe(runs);
    expect(await figures.evaluateAll((fs) => fs.map((f) => f.dataset.view))).toEqual(['heatmap', 'heatmap']);
    await page.screenshot({ path: path.join(SHOTS, 'heatmap-viridis.png') });

    // Privacy: after the image was chosen, no request at all; before, only GETs of the app's files and the model.
    expect(requests.slice(first).map((r) => r.url())).toEqual([]);
    for (const r of requests) {
      const url = new URL(r.url());
      expect(['127.0.0.1', 'localhost'], r.url()).toContain(url.hostname);
      expect(url.origin, r.url()).toBe(new URL(server.url).origin);
      expect(r.method(), r.url()).toBe('GET');
      expect(r.postData(), r.url()).toBeNull();
    }
    const modelFiles = requests.map((r) => new URL(r.url()).pathname).filter((p) => p.startsWith('/models/'));
    expect(modelFiles.every((p) => /^\/models\/mobilenet_v1_0\.75_224\/(model\.json|metadata\.json|group\d+-shard\d+of\d+)$/.test(p))).toBe(true);
    expect(modelFiles.length).toBeGreaterThan(50);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('loads your own model from files: a GraphModel, a LayersModel (another layer, guided); says why a broken one or one without conv layers fails', async () => {
    const { page, errors } = await open();
    const files = (dir: string) => readdirSync(dir).map((f) => path.join(dir, f));
    const modelInfo = page.locator('#model-info');

    // A model with no spatial layer (a dense net), written like any tfjs model.
    await initBackend('cpu');
    const dense = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [8, 8, 3] }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    const denseDir = mkdtempSync(path.join(os.tmpdir(), 'gradcam-web-'));
    await dense.save(tf.io.withSaveHandler(async (a) => {
      writeFileSync(path.join(denseDir, 'model.json'), JSON.stringify({
        modelTopology: a.modelTopology, format: a.format, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
      }));
      writeFileSync(path.join(denseDir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    dense.dispose();
    await page.setInputFiles('#model-files', files(denseDir));
    await page.waitForFunction(() => window.__gradcam!.state === 'error');
    expect((await state(page)).error).toMatch(/model\.json: model has no layer with a spatial 4-D output/);
    expect(await page.locator('#error').textContent()).toMatch(/no layer with a spatial 4-D output/);
    expect((await state(page)).model).toMatch(/mobilenet_v1_0\.75_224/); // the previous model stays

    // model.json without its weight files.
    await page.setInputFiles('#model-files', path.join(MODEL_025, 'model.json'));
    await page.waitForFunction(() => window.__gradcam!.error?.includes('missing weight files'));
    expect((await state(page)).error).toMatch(/^model\.json: missing weight files group1-shard1of1, .*\(55 files\)/);
    // A model.json that is not JSON.
    writeFileSync(path.join(denseDir, 'model.json'), '{"modelTopology": ');
    await page.setInputFiles('#model-files', path.join(denseDir, 'model.json'));
    await page.waitForFunction(() => window.__gradcam!.error?.includes('not a valid model.json'));

    // The TF-Hub GraphModel (1001 classes, background first).
    await page.setInputFiles('#model-files', files(MODEL_GRAPH));
    await page.waitForFunction(() => window.__gradcam!.state === 'ready' && window.__gradcam!.model === 'model.json');
    expect(await modelInfo.textContent()).toMatch(/1001 classes.*graph model/);
    let json = await after(page, () => page.setInputFiles('#image-file', CAT_DOG));
    json = await after(page, () => typeClass(page, '#class', 'tiger cat'));
    expect(json.targets[0].classIndex).toBe(283);
    expect(json.layer).toMatch(/Conv2d_13_pointwise/);
    expect(json.targets[0].peak!.y).toBeGreaterThan(0.55 * H);
    await page.screenshot({ path: path.join(SHOTS, 'graph-model.png') });

    // A LayersModel with its metadata.json.
    await page.setInputFiles('#model-files', files(MODEL_025));
    await page.waitForFunction(() => window.__gradcam!.state !== 'loading' && window.__gradcam!.runs > 2, null, { timeout: 30_000 });
    expect(await modelInfo.textContent()).toMatch(/^model\.json: 1000 classes.*layers model/);
    json = await after(page, () => typeClass(page, '#class', 'bull mastiff'));
    expect(json.targets[0].classIndex).toBe(243);
    expect(json.targets[0].peak!.y).toBeLessThan(0.5 * H);

    // An earlier layer (its head has depthwise convolutions: computed on the page's own backend, no cpu fallback), then Guided Grad-CAM.
    json = await after(page, () => page.selectOption('#layer', 'conv_pw_11_relu'));
    expect(json.layer).toBe('conv_pw_11_relu');
    expect(json.targets[0].cam).toHaveLength(14);
    expect(json.backend).toBe((await state(page)).backend);
    expect(await page.isHidden('#note')).toBe(true);
    await after(page, () => page.check('input[name=view][value=guided]'));
    expect(await page.getAttribute('#maps figure', 'data-view')).toBe('guided');
    await page.screenshot({ path: path.join(SHOTS, 'guided.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('on webgl: keyboard opens the picker; the cat again; the live camera frame after frame; fits a phone screen', async () => {
    const { page, errors } = await open({ width: 390, height: 844 }, '?backend=webgl&model=/models/mobilenet_v1_0.25_224/model.json');
    expect((await state(page)).backend).toBe('webgl');

    // Keyboard access: Enter on the focused drop zone opens the file input's picker. (Asserted through the
    // input's click, which is what opens the picker; Chromium's own chooser event proved flaky under load.)
    await page.evaluate(() => {
      const input = document.getElementById('image-file') as HTMLInputElement;
      input.addEventListener('click', (e) => { e.preventDefault(); document.body.dataset.pickerOpened = 'yes'; });
    });
    await page.focus('#drop');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.body.dataset.pickerOpened === 'yes', null, { timeout: 10_000 });
    await after(page, () => page.setInputFiles('#image-file', CAT_DOG));
    const json = await after(page, () => typeClass(page, '#class', 'tiger cat'));
    expect(json.backend).toBe('webgl');
    expect(json.targets[0].peak!.y).toBeGreaterThan(0.55 * H);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(SHOTS, 'phone.png'), fullPage: true });

    const { runs } = await state(page);
    await page.click('#camera');
    await page.waitForFunction((n) => window.__gradcam!.runs >= n + 3, runs, { timeout: 60_000 });
    const live = await state(page);
    expect(live.json!.image).toBe('camera.png');
    expect(live.error).toBeNull();
    await page.click('#camera');
    expect(await page.getAttribute('#camera', 'aria-pressed')).toBe('false');
    await page.screenshot({ path: path.join(SHOTS, 'phone-camera.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });


  it('the production build (npm run web:build) is static files that explain the same, with the wasm binaries bundled', async () => {
    const configFile = path.join(REPO_ROOT, 'web/vite.config.ts');
    const outDir = mkdtempSync(path.join(os.tmpdir(), 'gradcam-web-dist-'));
    await build({ configFile, build: { outDir }, logLevel: 'warn' });
    const assets = readdirSync(path.join(outDir, 'assets'));
    expect(assets.filter((f) => f.endsWith('.wasm'))).toHaveLength(3);
    const js = assets.filter((f) => f.endsWith('.js')).map((f) => readFileSync(path.join(outDir, 'assets', f), 'utf8')).join('\n');
    expect(/cdn\.jsdelivr|unpkg\.com/.test(js)).toBe(false);
    expect(js.includes(DEFAULT_MODEL_URL)).toBe(true); // a build's default model: the official hosted one

    const server = await preview({ configFile, build: { outDir }, preview: { host: '127.0.0.1', port: 0 }, logLevel: 'warn' });
    try {
      const { port } = server.httpServer.address() as AddressInfo;
      const page = await browser.newPage();
      const hosts = new Set<string>();
      page.on('request', (r) => hosts.add(new URL(r.url()).host));
      await page.goto(`http://127.0.0.1:${port}/?model=/models/mobilenet_v1_0.25_224/model.json`);
      await page.waitForFunction(() => window.__gradcam?.state === 'ready', null, { timeout: 60_000 });
      await after(page, () => page.setInputFiles('#image-file', CAT_DOG));
      const json = await after(page, () => typeClass(page, '#class', 'tiger cat'));
      expect(json.targets[0].peak!.y).toBeGreaterThan(0.55 * H);
      expect([...hosts]).toEqual([`127.0.0.1:${port}`]);
      await page.close();
    } finally {
      await new Promise((r) => server.httpServer.close(r));
    }
  });
});

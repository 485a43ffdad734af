/**
 * Grad-CAM in headless Chromium (the web app's code path): ms per map vs one forward pass (`predict`),
 * α=0.75 MobileNet, one 224×224 image, on webgl (SwiftShader, a software GPU, when there is no real
 * one) and wasm. Target: under 150 ms per map. Then the app itself (its model worker, wasm): time to
 * the first map, and Score-CAM's time in the worker.
 */
import type { Page } from 'playwright-core';
import { launchChromium, startWebServer } from '../web/serve.js';
import type { PageState } from '../web/src/main.js';
import { sharedImage } from '../test/helpers.js';
import type { BenchResult } from '../web/src/bench.js';
import { referenceInput } from '../test/helpers.js';
import { ms, table } from './util.js';

export default async function run(): Promise<void> {
  const server = await startWebServer();
  const browser = await launchChromium();
  const rows: (string | number)[][] = [];
  const app: (string | number)[][] = [];
  const rgb = Array.from(referenceInput('cat_dog').data);
  try {
    for (const backend of ['webgl', 'wasm']) {
      const page = await browser.newPage();
      await page.goto(`${server.url}bench.html?backend=${backend}`);
      const r = await page.evaluate(async ([pixels]) => {
        await window.benchReady;
        return window.runBench!(pixels, 10);
      }, [rgb] as const).catch((e: Error) => e);
      await page.close();
      if (r instanceof Error) {
        rows.push([backend, `failed: ${r.message.split('\n')[0]}`, '', '', '']);
        continue;
      }
      const res = r as BenchResult;
      rows.push([`${res.backend}${res.mapBackend !== res.backend ? ` (maps on ${res.mapBackend})` : ''}`, res.device.replace(/ANGLE \(.*SwiftShader.*\)$/, 'SwiftShader (software GPU)'),
        `${ms(res.forward.min)} / ${ms(res.forward.median)}`, `${ms(res.gradcam.min)} / ${ms(res.gradcam.median)}`,
        `${(res.gradcam.median / res.forward.median).toFixed(2)}×`]);
    }
    for (const alpha of ['0.75', '0.25']) app.push(...(await appTimes(await browser.newPage(), `${server.url}?backend=wasm&model=/models/mobilenet_v1_${alpha}_224/model.json`, alpha)));
  } finally {
    await browser.close();
    await server.close();
  }
  table(['backend', 'device', 'forward (min / median)', 'Grad-CAM map (min / median)', 'ratio (median)'], rows);
  console.log('\nThe web app (index.html, model worker on wasm, cat_dog.jpg 640×480):\n');
  table(['model', 'what', 'time'], app);
}

const appState = (page: Page) => page.evaluate(() => window.__gradcam as PageState);

/** The app's own timings: page load → model ready, image chosen → first map drawn, Score-CAM in the worker. */
async function appTimes(page: Page, url: string, alpha: string): Promise<(string | number)[][]> {
  try {
    page.setDefaultTimeout(600_000);
    await page.goto(url);
    await page.waitForFunction(() => window.__gradcam?.state === 'ready');
    await page.setInputFiles('#image-file', sharedImage('cat_dog.jpg'));
    await page.waitForFunction(() => window.__gradcam!.runs === 1 && window.__gradcam!.state === 'ready');
    const first = await appState(page);
    const t = first.timings;
    await page.selectOption('#method', 'scorecam');
    await page.waitForFunction(() => window.__gradcam!.runs === 2 && window.__gradcam!.state === 'ready');
    const score = await appState(page);
    await page.selectOption('#method', 'gradcam');
    await page.waitForFunction(() => window.__gradcam!.runs === 3 && window.__gradcam!.state === 'ready');
    const again = await appState(page);
    const m = `α=${alpha}`;
    return [
      [m, 'page load → model ready (worker, wasm, model download)', ms(t.modelReady!)],
      [m, 'image chosen → first map drawn (decode, worker round trip, Grad-CAM, drawing)', ms(t.firstMap! - t.imageChosen!)],
      [m, 'Grad-CAM in the worker, warm (whole request)', `${ms(again.timings.workerMs!)} (${ms(again.timings.requestMs!)})`],
      [m, `Score-CAM in the worker, batch 8 (${score.json!.targets.length} class)`, `${ms(score.timings.workerMs!)} (${ms(score.timings.requestMs!)})`],
    ];
  } catch (e) {
    return [[`α=${alpha}`, 'app', `failed: ${(e as Error).message.split('\n')[0]}`]];
  } finally {
    await page.close();
  }
}

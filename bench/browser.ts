/**
 * Grad-CAM in headless Chromium (the web app's code path): ms per map vs one forward pass (`predict`),
 * α=0.75 MobileNet, one 224×224 image, on webgl (SwiftShader, a software GPU, when there is no real
 * one) and wasm. Target: under 150 ms per map.
 */
import { launchChromium, startWebServer } from '../web/serve.js';
import type { BenchResult } from '../web/src/bench.js';
import { referenceInput } from '../test/helpers.js';
import { ms, table } from './util.js';

export default async function run(): Promise<void> {
  const server = await startWebServer();
  const browser = await launchChromium();
  const rows: (string | number)[][] = [];
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
  } finally {
    await browser.close();
    await server.close();
  }
  table(['backend', 'device', 'forward (min / median)', 'Grad-CAM map (min / median)', 'ratio (median)'], rows);
}

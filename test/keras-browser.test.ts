/**
 * The Keras reader in a real browser (Chromium, as the web app runs it): `loadModelFromFiles` with a
 * picked `.keras` File, bundled for the browser (jsfive and fflate as the web build resolves them),
 * predicts potato's reference logits.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { expect, it } from 'vitest';
import { launchChromium } from '../web/serve.js';
import { REPO_ROOT, SHARED_DIR } from './helpers.js';

const KERAS = path.join(SHARED_DIR, 'models', 'keras');

it('a .keras File loads in Chromium and gives the reference logits', async () => {
  const esbuild = await import('esbuild');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradcam-keras-browser-'));
  const entry = path.join(dir, 'entry.ts');
  writeFileSync(entry, `
    import * as tf from '@tensorflow/tfjs';
    import { loadModelFromFiles } from ${JSON.stringify(path.join(REPO_ROOT, 'src/model/load.ts'))};
    (globalThis as any).run = async (b64: string, pixels: number[]) => {
      await tf.setBackend('cpu');
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const model = await loadModelFromFiles([new File([bytes], 'potato.keras')]);
      const [out] = await model.run(tf.tensor4d(pixels, [1, 256, 256, 3]));
      return { format: model.format, range: model.preprocessing.range, logits: Array.from(out.dataSync()) };
    };`);
  const bundle = await esbuild.build({
    entryPoints: [entry], bundle: true, format: 'iife', platform: 'browser', write: false, logLevel: 'silent',
    nodePaths: [path.join(REPO_ROOT, 'node_modules')],
  });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.setContent('<html><body></body></html>');
    await page.addScriptTag({ content: bundle.outputFiles[0].text });
    const pixels = await sharp(path.join(KERAS, 'references/potato/inputs/chelsea.png')).removeAlpha().raw().toBuffer();
    const b64 = readFileSync(path.join(KERAS, 'potato.keras')).toString('base64');
    const res = await page.evaluate(([b, p]) => (globalThis as unknown as { run(b: string, p: number[]): Promise<{ format: string; range: number[]; logits: number[] }> }).run(b, p), [b64, Array.from(pixels)] as const);
    const ref = JSON.parse(readFileSync(path.join(KERAS, 'references/potato/chelsea.json'), 'utf8')) as { logits: number[] };
    expect(res.format).toBe('keras');
    expect(res.range).toEqual([0, 255]);
    res.logits.forEach((v, i) => expect(Math.abs(v - ref.logits[i])).toBeLessThan(1e-4));
  } finally {
    await browser.close();
  }
}, 120_000);

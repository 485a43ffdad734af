/**
 * The detector view in headless Chromium against the Vite dev server: a demo detector, an image from a
 * file input, the boxes drawn; clicking the cat box shows a map whose peak is in it; no request after the
 * image was chosen. Screenshot in test-output/web/.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Request } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium, startWebServer } from '../web/serve.js';
import type { DetectPageState } from '../web/src/detect.js';
import { REPO_ROOT, sharedImage } from './helpers.js';

let server: Awaited<ReturnType<typeof startWebServer>>;
let browser: Browser;

beforeAll(async () => {
  [server, browser] = await Promise.all([startWebServer(), launchChromium()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

it('detector view: boxes drawn, the cat box\'s map peaks in it, Tab to the next box, no request after the image', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(90_000);
  const requests: Request[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requests.push(r));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}detect.html?model=/models/detect/nanodet/model.json`);
  await page.waitForFunction(() => window.__detect?.state === 'ready' && window.__detect.model, null, { timeout: 90_000 });
  const before = requests.length;
  await page.setInputFiles('#image-file', sharedImage('cat_dog.jpg'));
  await page.waitForFunction(() => window.__detect!.state === 'ready' && window.__detect!.detections.length > 0);
  const s1 = (await page.evaluate(() => window.__detect)) as DetectPageState;
  expect(s1.detections.map((d) => d.className).sort()).toEqual(['cat', 'dog']);
  expect(await page.locator('.box').count()).toBe(2);
  const cat = s1.detections.findIndex((d) => d.className === 'cat');
  await page.locator(`.box[data-index="${cat}"]`).click();
  await page.waitForFunction((k) => window.__detect!.state === 'ready' && window.__detect!.detections[k].peak !== undefined, cat);
  const s2 = (await page.evaluate(() => window.__detect)) as DetectPageState;
  const { peak, box } = s2.detections[cat];
  expect(peak).toBeTruthy();
  expect(peak!.x >= box[0] && peak!.x <= box[2] && peak!.y >= box[1] && peak!.y <= box[3]).toBe(true);
  expect(await page.locator(`.box[data-index="${cat}"]`).getAttribute('aria-selected')).toBe('true');
  // Keyboard: Tab moves to the next box, which becomes the selected one (its map computed on focus).
  const dog = 1 - cat;
  await page.locator(`.box[data-index="${cat}"]`).focus();
  await page.keyboard.press(cat < dog ? 'Tab' : 'Shift+Tab');
  await page.waitForFunction((k) => window.__detect!.selected === k && window.__detect!.state === 'ready' && window.__detect!.detections[k].peak !== undefined, dog);
  expect(await page.locator(`.box[data-index="${dog}"]`).getAttribute('aria-selected')).toBe('true');
  expect(requests.slice(before).map((r) => r.url())).toEqual([]);
  expect(errors).toEqual([]);
  mkdirSync(path.join(REPO_ROOT, 'test-output/web'), { recursive: true });
  await page.screenshot({ path: path.join(REPO_ROOT, 'test-output/web/detect-cat.png') });
  await page.close();
}, 180_000);

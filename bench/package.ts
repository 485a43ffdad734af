/**
 * The package as shipped: tarball size, what a user's install adds to node_modules, the standalone
 * browser bundle (raw and gzip), and the CLI's cold start for one explain — the installed CLI
 * (compiled dist/) against the checkout's (TypeScript through tsx, as every release before 0.2.0 ran),
 * alternated in the same run, with their ratio.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildAndPack, folderBytes, installConsumer, run } from '../test/consumer.js';
import { MODEL_025, REPO_ROOT, sharedImage } from '../test/helpers.js';
import { ms, table } from './util.js';

const MB = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
const RUNS = 5;

export default async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'gradcam-bench-package-'));
  try {
    const app = path.join(tmp, 'app');
    mkdirSync(app);
    const t0 = performance.now();
    const { tarball, bytes } = await buildAndPack(tmp);
    const t1 = performance.now();
    await installConsumer(app, tarball);
    const t2 = performance.now();
    const installed = path.join(app, 'node_modules');
    const bundle = readFileSync(path.join(installed, 'gradcam/dist/gradcam.browser.js'));
    const top = ['@tensorflow', '@img', 'sharp', 'h5wasm', 'protobufjs', 'gradcam']
      .map((d) => [d, folderBytes(path.join(installed, d))] as const).sort((a, b) => b[1] - a[1]);
    table(['what', 'size'], [
      ['tarball (npm pack)', MB(bytes)],
      ['gradcam itself, installed', MB(folderBytes(path.join(installed, 'gradcam')))],
      ['install: all of node_modules (required peers, no optional ones)', MB(folderBytes(installed))],
      ...top.filter(([d]) => d !== 'gradcam').map(([d, b]) => [`  of which ${d}`, MB(b)]),
      ['browser bundle gradcam.browser.js, raw', MB(bundle.length)],
      ['browser bundle, gzip -9', MB(gzipSync(bundle, { level: 9 }).length)],
    ]);
    console.log(`\nbuild + pack ${ms(t1 - t0)}, offline install from npm's cache ${ms(t2 - t1)}\n`);

    // Cold start: a new process per run, one explain of cat_dog.jpg with the α=0.25 MobileNet.
    const args = ['explain', sharedImage('cat_dog.jpg'), '--model', MODEL_025, '--class', '282', '--out', path.join(tmp, 'out')];
    const clis = {
      'compiled (installed package, dist/)': [path.join(installed, 'gradcam/bin/gradcam.js'), app],
      'tsx (checkout, TypeScript sources)': [path.join(REPO_ROOT, 'bin/gradcam.js'), REPO_ROOT],
    } as const;
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(clis).map((k) => [k, []]));
    for (let i = 0; i <= RUNS; i++) {
      for (const [name, [bin, cwd]] of Object.entries(clis)) {
        const t = performance.now();
        await run(process.execPath, [bin, ...args], cwd);
        if (i > 0) times[name].push(performance.now() - t); // run 0 warms the OS file cache
      }
    }
    const stat = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return { min: s[0], median: s[Math.floor(s.length / 2)] }; };
    const [compiled, tsx] = Object.keys(clis).map((k) => stat(times[k]));
    table(['CLI cold start, one explain', 'min / median', 'ratio (median)'], [
      [Object.keys(clis)[0], `${ms(compiled.min)} / ${ms(compiled.median)}`, `${(compiled.median / tsx.median).toFixed(2)}×`],
      [Object.keys(clis)[1], `${ms(tsx.min)} / ${ms(tsx.median)}`, '1.00×'],
    ]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

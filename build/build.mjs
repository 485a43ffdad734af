#!/usr/bin/env node
/**
 * `npm run build`: dist/ from scratch.
 * 1. `tsc -p tsconfig.build.json`: every .ts under src/ (new folders included, no file lists) → ESM .js,
 *    .d.ts and source maps (imported JSON is emitted too).
 * 2. Every other file under src/ (assets a module reads beside itself, e.g. through
 *    `new URL('./x', import.meta.url)`) is copied to the same place in dist/.
 * 3. Vite library mode (build/vite.browser.config.ts): the standalone dist/gradcam.browser.js.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');
const require = createRequire(import.meta.url);
const bin = (pkg, file) => path.join(path.dirname(require.resolve(`${pkg}/package.json`)), file);
const step = (label, args) => {
  const t = performance.now();
  execFileSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  console.log(`build: ${label} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
};

rmSync(dist, { recursive: true, force: true });
step('tsc → dist/', [bin('typescript', 'bin/tsc'), '-p', 'tsconfig.build.json']);

let assets = 0;
for (const rel of readdirSync(src, { recursive: true }).map(String)) {
  const from = path.join(src, rel);
  if (/\.(ts|tsx|mts|cts)$/.test(rel) || statSync(from).isDirectory()) continue;
  const to = path.join(dist, rel);
  if (existsSync(to)) continue; // JSON that tsc emitted
  cpSync(from, to);
  assets++;
}
if (assets) console.log(`build: ${assets} asset file(s) copied from src/`);

step('vite → dist/gradcam.browser.js', [bin('vite', 'bin/vite.js'), 'build', '--config', 'build/vite.browser.config.ts']);

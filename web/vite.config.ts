/**
 * Vite config of the web app (`npm run web`, `npm run web:build`). The dev server (and the tests and
 * browser bench, which start it through `serve.ts`) also serves the shared models under `/models/`;
 * a production build loads the official hosted MobileNet instead. Nothing is fetched from a CDN: the
 * tfjs wasm binaries are bundled as local assets. `base: './'` makes every URL in the build relative, so
 * it works served from any sub-path (e.g. `/demo/` on GitHub Pages; tested in test/package.test.ts).
 */
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import type { Connect, Plugin } from 'vite';
import { defineConfig } from 'vite';
import { REPO_ROOT, SHARED_DIR } from '../scripts/shared.js';

const MODELS_DIR = path.join(SHARED_DIR, 'models');
const TYPES: Record<string, string> = { '.json': 'application/json', '.bin': 'application/octet-stream' };

/** `GET /models/<folder>/<file>` → `../shared/models/<folder>/<file>` (read-only, no directory listing, no `..`). */
const serveModels: Connect.NextHandleFunction = (req, res, next) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (!url.pathname.startsWith('/models/')) return next();
  const file = path.resolve(MODELS_DIR, decodeURIComponent(url.pathname.slice('/models/'.length)));
  let size = -1;
  try {
    if (file.startsWith(MODELS_DIR + path.sep) && statSync(file).isFile()) size = statSync(file).size;
  } catch { /* not found */ }
  if (size < 0 || req.method !== 'GET') {
    res.statusCode = 404;
    res.end('not found');
    return;
  }
  res.setHeader('Content-Type', TYPES[path.extname(file)] ?? 'application/octet-stream');
  res.setHeader('Content-Length', size);
  createReadStream(file).pipe(res);
};

const sharedModels = (): Plugin => ({
  name: 'gradcam-shared-models',
  configureServer: (server) => void server.middlewares.use(serveModels),
  configurePreviewServer: (server) => void server.middlewares.use(serveModels),
});

export default defineConfig(({ command }) => ({
  root: path.join(REPO_ROOT, 'web'),
  base: './',
  cacheDir: path.join(REPO_ROOT, 'node_modules/.vite-web'),
  plugins: [sharedModels()],
  // The app imports the library by its package name, as any app would; here it is built from the sources.
  resolve: {
    alias: [
      { find: /^gradcam$/, replacement: path.join(REPO_ROOT, 'src/index.ts') },
      { find: /^gradcam\/metrics$/, replacement: path.join(REPO_ROOT, 'src/metrics/index.ts') },
    ],
  },
  // Whether the app's default model is the served ../shared copy (dev server) or the official hosted one (build).
  define: { __SERVED_MODELS__: JSON.stringify(command === 'serve') },
  server: { fs: { allow: [REPO_ROOT] } },
  // Pre-bundled up front, so that the first page load never triggers a re-optimisation reload.
  optimizeDeps: { include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'colormap'] },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4000,
    rollupOptions: { input: { main: path.join(REPO_ROOT, 'web/index.html'), detect: path.join(REPO_ROOT, 'web/detect.html') } } },
}));

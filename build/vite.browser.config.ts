/**
 * `npm run build` (second step): the standalone browser bundle `dist/gradcam.browser.js` — the
 * isomorphic API (`src/index.ts`) and TF.js in one self-contained, minified ES module that a page loads
 * with `<script type="module">`, no bundler, no import map. Bundler users import `gradcam` instead
 * (dist/index.js, tree-shaken, TF.js shared with the app).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export default defineConfig({
  root,
  logLevel: 'warn',
  publicDir: false,
  cacheDir: path.join(root, 'node_modules/.vite-browser-bundle'),
  build: {
    outDir: path.join(root, 'dist'),
    emptyOutDir: false, // dist/ also holds tsc's output
    target: 'es2022',
    sourcemap: false, // a map of TF.js alone is 15 MB
    minify: true,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 4000,
    lib: { entry: path.join(root, 'build/browser-entry.ts'), formats: ['es'], fileName: () => 'gradcam.browser.js' },
    // One file, even for dynamic imports; minified (library mode keeps ES output readable by default).
    rolldownOptions: { output: { codeSplitting: false, minify: true } },
  },
});

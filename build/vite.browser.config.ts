/**
 * `npm run build` (second step): the standalone browser bundle `dist/gradcam.browser.js` — the
 * isomorphic API (`src/index.ts`) and TF.js in one self-contained, minified ES module that a page loads
 * with `<script type="module">`, no bundler, no import map. Bundler users import `gradcam` instead
 * (dist/index.js, tree-shaken, TF.js shared with the app).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `dist/gradcam.browser.d.ts`: the bundle's types are the isomorphic API's (tsc's dist/index.d.ts) plus `tf`. */
const declarations = (): Plugin => ({
  name: 'gradcam-browser-declarations',
  generateBundle() {
    this.emitFile({
      type: 'asset',
      fileName: 'gradcam.browser.d.ts',
      source: "export * from './index.js';\nexport * as tf from '@tensorflow/tfjs';\n",
    });
  },
});

export default defineConfig({
  root,
  logLevel: 'warn',
  publicDir: false,
  plugins: [declarations()],
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
    // ONNX Runtime Web stays outside (an optional peer; inlined with its wasm it made the bundle 77 MB):
    // a page explaining ONNX models maps `onnxruntime-web` in an import map or passes `{ ort }`.
    rolldownOptions: { external: [/^onnxruntime-/], output: { codeSplitting: false, minify: true } },
  },
});

/**
 * Backend choice in the browser (in the model worker, or a page such as the bench): webgl on a real GPU, else wasm (SIMD where the browser has
 * it), else cpu; `?backend=` forces one. A software WebGL (SwiftShader,
 * llvmpipe: what Chrome uses without a usable GPU) is about ten times slower than wasm here, so it comes
 * after wasm. The wasm binaries are the package's own files, bundled as local assets: no CDN.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasm,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimd,
});

/** A canvas in a page or in a worker. */
const newCanvas = () => (typeof document !== 'undefined' ? document.createElement('canvas') : new OffscreenCanvas(1, 1));

/** The WebGL renderer string (unmasked where the browser allows), or null without WebGL 2. */
function webglRenderer(gl?: WebGL2RenderingContext | null): string | null {
  gl ??= newCanvas().getContext('webgl2') as WebGL2RenderingContext | null;
  if (!gl) return null;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

const isSoftware = (renderer: string | null) => !renderer || /swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer);

/** Initialises the first backend that works, in order of preference; returns its name. */
export async function initBrowserBackend(preferred?: string | null): Promise<string> {
  const order = preferred ? [preferred] : isSoftware(webglRenderer()) ? ['wasm', 'webgl', 'cpu'] : ['webgl', 'wasm', 'cpu'];
  for (const name of order) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        return name;
      }
    } catch { /* try the next one */ }
  }
  throw new Error(`no TensorFlow.js backend could start (tried ${order.join(', ')})`);
}

/** What the current backend runs on, e.g. `wasm, SIMD, 2 threads` or the GPU's name. */
export function backendDevice(): string {
  const name = tf.getBackend();
  if (name === 'webgl') return `webgl, ${webglRenderer((tf.backend() as unknown as { gpgpu: { gl: WebGL2RenderingContext } }).gpgpu.gl)}`;
  if (name === 'wasm') {
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? ', SIMD' : '';
    return `wasm${simd}, ${getThreadsCount()} thread${getThreadsCount() === 1 ? '' : 's'}`;
  }
  return name;
}

/**
 * Node-side helpers for the web app's tests and browser bench: the Vite dev server on 127.0.0.1 and a
 * free port, and headless Chromium (Debian's, or `$CHROMIUM`) through playwright-core.
 */
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { createServer } from 'vite';
import { REPO_ROOT } from '../scripts/shared.js';

/** Starts the dev server; `url` ends with `/`. */
export async function startWebServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = await createServer({
    configFile: path.join(REPO_ROOT, 'web/vite.config.ts'),
    server: { host: '127.0.0.1', port: 0, strictPort: true, hmr: false },
    logLevel: 'warn',
  });
  await server.listen();
  const { port } = server.httpServer!.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => server.close() };
}

/**
 * Headless Chromium. WebGL comes from SwiftShader (software) when there is no GPU; `extraArgs` adds
 * flags, e.g. a fake camera.
 */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-quic',
      '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs,
    ],
  });
}

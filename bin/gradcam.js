#!/usr/bin/env node
// The `gradcam` command.
// - Installed from the package (no src/ beside dist/): runs the compiled CLI in dist/, no TypeScript tooling.
// - In a checkout of the repository (src/ present): runs the TypeScript sources through tsx, so the CLI is
//   never a stale build after an edit; GRADCAM_DIST=1 runs dist/ there too (after `npm run build`).
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(sources) && process.env.GRADCAM_DIST !== '1') {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/cli/main.js');
}

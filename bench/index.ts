/**
 * `npm run bench [section…]`: speed and memory figures, always as ratios measured in the same run
 * (this machine is shared and noisy, so no test asserts a time). Each section is a file in this
 * folder exporting `default async function (): Promise<void>` that prints its own table.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SECTIONS = ['core', 'methods', 'metrics', 'train', 'browser', 'package'];
const here = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : SECTIONS;

for (const name of wanted) {
  const file = path.join(here, `${name}.ts`);
  if (!existsSync(file)) {
    console.log(`\n## ${name}: no benchmark yet`);
    continue;
  }
  console.log(`\n## ${name}`);
  const mod = (await import(file)) as { default: () => Promise<void> };
  await mod.default();
}

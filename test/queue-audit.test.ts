/**
 * `gradcam audit --queue` with real components: Debian's redis-server (test/redis.ts) and two
 * `gradcam worker` processes audit a small labelled dataset; the enqueuing command's report equals a
 * local `gradcam audit`'s: the header, every class section (groups, sort order, captions, the
 * overlays and mean maps as inlined images) and the misclassified pairs byte for byte, and the metric
 * table's rows except the random baseline's (seeded per image on the queue, as with `eval --queue`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL_025, REPO_ROOT, runCli, sharedImage } from './helpers.js';
import { startRedis, type TestRedis } from './redis.js';

interface Proc { proc: ChildProcess; log: () => string }

function startWorker(url: string): Proc {
  const proc = spawn('node', [path.join(REPO_ROOT, 'bin/gradcam.js'), 'worker', '--queue', url, '--concurrency', '1'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  return { proc, log: () => log };
}

async function until(what: string, f: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The report's parts: everything before the metric table, the table's rows, everything after it. */
function parts(html: string) {
  const [head, rest] = html.split('<h2>Metrics</h2>');
  const [table, body] = rest.split('<h2>By predicted class</h2>');
  return { head, rows: table.split('<tr>').slice(1), body };
}

describe('gradcam audit --queue with gradcam workers', () => {
  let redis: TestRedis;
  let root: string;
  const workers: Proc[] = [];

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'gradcam-queue-audit-'));
    const data = path.join(root, 'data');
    for (const [cls, files] of [['tabby', ['chelsea.png', 'cat_dog.jpg']], ['espresso', ['coffee.png']], ['fox squirrel', ['squirrel_cls.jpg']], ['not a class', ['dogs.png', 'both.png']]] as const) {
      mkdirSync(path.join(data, cls), { recursive: true });
      for (const f of files) copyFileSync(sharedImage(f), path.join(data, cls, f));
    }
    writeFileSync(path.join(data, 'tabby', 'broken.jpg'), 'not an image');
    redis = await startRedis();
    workers.push(startWorker(redis.url), startWorker(redis.url));
    await until('the workers to be ready', () => workers.every((w) => /worker ready/.test(w.log())));
  }, 90_000);

  afterAll(async () => {
    for (const w of workers) { try { process.kill(-w.proc.pid!, 'SIGKILL'); } catch { /* gone */ } }
    await redis?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('builds the same report as a local audit', async () => {
    const args = [path.join(root, 'data'), '--model', MODEL_025, '--steps', '4', '--batch', '3'];
    const t0 = Date.now();
    const [local, queued] = await Promise.all([
      runCli(['audit', ...args, '--out', path.join(root, 'local')]),
      runCli(['audit', ...args, '--out', path.join(root, 'queued'), '--queue', redis.url]),
    ]);
    console.log(`audit --queue of 6 images through 2 workers (and a local audit beside it) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const r of [local, queued]) {
      expect(r.code, r.stderr).toBe(1); // the broken file, reported like a local bad file
      expect(r.stderr).toMatch(/error: .*broken\.jpg: not an image/);
    }
    expect(queued.stderr).toMatch(/queue: 6 audited, 0 failed/);
    expect(workers.reduce((n, w) => n + (w.log().match(/^done /gm) ?? []).length, 0)).toBe(6); // every image audited on a worker
    const a = parts(readFileSync(path.join(root, 'local', 'index.html'), 'utf8'));
    const b = parts(readFileSync(path.join(root, 'queued', 'index.html'), 'utf8'));
    expect(b.head).toBe(a.head); // model, method, layer, image count, accuracy, class navigation
    expect(b.body).toBe(a.body); // class groups in order, thumbnails sorted by border share, overlays, mean maps, misclassified pairs
    expect(b.body).toMatch(/Misclassified \([1-9]\)/);
    const notRandom = (rows: string[]) => rows.filter((r) => !/random/i.test(r));
    expect(notRandom(b.rows)).toEqual(notRandom(a.rows));
    expect(b.rows.length).toBe(a.rows.length);
    expect(a.rows.length).toBeGreaterThan(2);
    console.log(a.rows.map((r, i) => (r === b.rows[i] ? '= ' : '≠ ') + r.replace(/<[^>]+>/g, ' ').trim()).join('\n'));
  }, 120_000);
});

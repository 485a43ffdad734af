/**
 * The queue with real components: Debian's redis-server (test/redis.ts), `gradcam worker`
 * processes and `gradcam explain --queue`, compared byte for byte with a local `gradcam explain`.
 * Faults: a worker killed with SIGKILL mid-run and Redis killed and restarted (AOF) mid-run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST } from '../src/queue/enqueue.js';
import { MODEL_025, REPO_ROOT, runCli } from './helpers.js';
import { makeImages } from './queue-images.js';
import { startRedis, type TestRedis } from './redis.js';

const N = 16; // the 100-image run is `npm run bench -- serve`
interface Proc { proc: ChildProcess; log: () => string; exited: Promise<number | null> }

/** Starts a process in its own process group (so a kill takes its children too), collecting stderr. */
function start(args: string[]): Proc {
  const proc = spawn('node', [path.join(REPO_ROOT, 'bin/gradcam.js'), ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, log: () => log, exited };
}

const killGroup = (p: Proc, signal: NodeJS.Signals) => { try { process.kill(-p.proc.pid!, signal); } catch { /* gone */ } };

async function until(what: string, f: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const doneLines = (p: Proc) => (p.log().match(/^done /gm) ?? []).length;

/** Every output file of a folder (not the manifest), by name. */
function outputs(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).filter((f) => f !== MANIFEST).sort().map((f) => [f, readFileSync(path.join(dir, f))]));
}

describe('gradcam explain --queue with gradcam workers', () => {
  let redis: TestRedis;
  let root: string;
  let images: string;
  let local: Map<string, Buffer>;
  const workers: Proc[] = [];
  const startWorker = async () => {
    const w = start(['worker', '--queue', redis.url, '--concurrency', '1', '--lock-duration', '3000']);
    workers.push(w);
    await until('a worker to be ready', () => /worker ready/.test(w.log()), 60_000);
    return w;
  };

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'gradcam-queue-'));
    images = path.join(root, 'images');
    await makeImages(images, N);
    writeFileSync(path.join(images, 'zz_empty.jpg'), '');
    writeFileSync(path.join(images, 'zz_notes.png'), 'this is not an image');
    redis = await startRedis();
    const [r] = await Promise.all([ // the local reference run and the two workers' start-up side by side
      runCli(['explain', images, '--model', MODEL_025, '--top', '2', '--out', path.join(root, 'local')]),
      startWorker(), startWorker(),
    ]);
    expect(r.code).toBe(1); // the two bad files
    local = outputs(path.join(root, 'local'));
    expect(local.size).toBe(N * 5); // JSON + 2 × (overlay + heatmap)
  });

  afterAll(async () => {
    for (const w of workers) killGroup(w, 'SIGKILL');
    await redis?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('two workers write byte-identical outputs, fail bad images with their error, and a re-run skips finished work', async () => {
    const out = path.join(root, 'queued');
    const t0 = Date.now();
    const r = await runCli(['explain', images, '--model', MODEL_025, '--top', '2', '--out', out, '--queue', redis.url]);
    const seconds = (Date.now() - t0) / 1000;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`queue: ${N} written, 0 already done, 2 failed`));
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
    expect(errors.find((l) => l.includes('zz_empty.jpg'))).toMatch(/empty file/);
    expect(errors.find((l) => l.includes('zz_notes.png'))).toMatch(/not an image/);
    expect(errors).toHaveLength(2);
    const queued = outputs(out);
    expect([...queued.keys()]).toEqual([...local.keys()]);
    for (const [name, data] of local) expect(queued.get(name)!.equals(data), name).toBe(true);
    // both workers took part
    expect(doneLines(workers[0])).toBeGreaterThan(0);
    expect(doneLines(workers[1])).toBeGreaterThan(0);
    console.log(`${N} images through 2 workers in ${seconds.toFixed(1)} s (split ${doneLines(workers[0])}/${doneLines(workers[1])})`);

    const before = doneLines(workers[0]) + doneLines(workers[1]);
    const again = await runCli(['explain', images, '--model', MODEL_025, '--top', '2', '--out', out, '--queue', redis.url]);
    expect(again.stderr).toMatch(new RegExp(`queue: 0 written, ${N} already done`));
    await new Promise((r) => setTimeout(r, 300));
    expect(doneLines(workers[0]) + doneLines(workers[1])).toBe(before); // no image explained again

    const status = await runCli(['queue', 'status', '--queue', redis.url, '--json']);
    const s = JSON.parse(status.stdout) as { counts: Record<string, number>; workers: number; failed: { error: string }[] };
    expect(s.workers).toBe(2);
    expect(s.counts.waiting + s.counts.active + s.counts.completed).toBe(0); // collected results are removed
    expect(s.failed.map((f) => f.error).sort().join('\n')).toMatch(/zz_empty.jpg: empty file[\s\S]*zz_notes.png: not an image/);
    const clean = await runCli(['queue', 'clean', '--queue', redis.url]);
    expect(clean.stderr).toMatch(/removed 2 finished job/);
  });

  it('eval --queue: every image evaluated by a worker, merged into the same method rows as a local eval', async () => {
    const some = readdirSync(images).filter((f) => f.startsWith('img')).slice(0, 3).map((f) => path.join(images, f));
    const args = [...some, '--model', MODEL_025, '--methods', 'gradcam', '--steps', '5', '--road-percentages', '50'];
    const [local, queued] = await Promise.all([
      runCli(['eval', ...args, '--out', path.join(root, 'eval-local')]),
      runCli(['eval', ...args, '--out', path.join(root, 'eval-queued'), '--queue', redis.url]),
    ]);
    expect(local.code).toBe(0);
    expect(queued.code, queued.stderr).toBe(0);
    expect(queued.stderr).toMatch(/queue: 3 evaluated, 0 failed/);
    type Row = Record<string, unknown> & { cases: Record<string, unknown>[] };
    const read = (dir: string) => JSON.parse(readFileSync(path.join(root, dir, 'eval.json'), 'utf8')) as { images: number; methods: Record<string, Row>; baselines: Record<string, Row> };
    const [a, b] = [read('eval-local'), read('eval-queued')];
    expect(b.images).toBe(3);
    // ROAD's noise and the random baseline are seeded per image on the queue, per run locally: everything else is equal
    const strip = (r: Row) => JSON.parse(JSON.stringify(r, (k, v) => (/^road/i.test(k) ? undefined : v)));
    expect(strip(b.methods.gradcam)).toEqual(strip(a.methods.gradcam));
    expect(strip(b.baselines.centre)).toEqual(strip(a.baselines.centre));
    expect(b.baselines.random.cases).toHaveLength(a.baselines.random.cases.length);
  });

  it('loses nothing and writes nothing twice when a worker is killed (SIGKILL) and Redis is killed and restarted mid-run', async () => {
    const [a, b] = workers; // warm, from the test above
    const out = path.join(root, 'faults');
    const run = start(['explain', images, '--model', MODEL_025, '--top', '2', '--out', out, '--queue', redis.url]);

    const done0 = doneLines(a) + doneLines(b);
    await until('the first jobs', () => doneLines(a) + doneLines(b) >= done0 + 3);
    const victim = a; // whichever job it holds now is lost with it
    killGroup(victim, 'SIGKILL'); // the worker and its sandboxed child, mid-job
    await victim.exited;
    const survivor = victim === a ? b : a;
    const replacement = startWorker(); // joins while the run goes on

    const mark = doneLines(survivor);
    await until('more jobs after the kill', () => doneLines(survivor) >= mark + 2);
    const doneAtRestart = doneLines(a) + doneLines(b) - done0; // the replacement may have done a few more
    await redis.restart({ downMs: 1000 }); // SIGKILL; the AOF brings the queue back
    await replacement;
    console.log(`killed a worker, then Redis with about ${N - doneAtRestart} of ${N} images still to do`);

    const code = await Promise.race([run.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000))]);
    if (code === 'timeout') killGroup(run, 'SIGKILL');
    expect(code, run.log()).toBe(1); // the two bad files
    expect(run.log()).toMatch(new RegExp(`queue: ${N} written, 0 already done, 2 failed, ${N * 5} file\\(s\\) written`));
    const got = outputs(out);
    expect([...got.keys()]).toEqual([...local.keys()]);
    for (const [name, data] of local) expect(got.get(name)!.equals(data), name).toBe(true);
    // one manifest line per image: each image's outputs were written once
    const lines = readFileSync(path.join(out, MANIFEST), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(N);
    expect(new Set(lines.map((l) => l.split(' ')[1])).size).toBe(N);
    expect(existsNoTmp(out)).toBe(true);
  });
});

const existsNoTmp = (dir: string) => !readdirSync(dir).some((f) => f.endsWith('.tmp'));

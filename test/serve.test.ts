/**
 * The HTTP API on loopback: the CLI's JSON, concurrency without 5xx, every bad input a 4xx with
 * {error} (and the server keeps serving), 429 + Retry-After when full, no tensor leak, no URL
 * fetching, and a real `gradcam serve` process finishing in-flight requests on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExplainableModel } from '../src/model/types.js';
import { readImage } from '../src/node/image.js';
import { explainImages } from '../src/node/jobs.js';
import { buildApp } from '../src/serve/app.js';
import { hugePng, model as sharedModelOf, MODEL_025, REPO_ROOT, sharedImage } from './helpers.js';

const TOKEN = 'test-token-0123456789';


/** POSTs a multipart upload with `fetch` (Node's undici) and returns status, headers and body. */
async function post(base: string, route: string, file: Buffer | undefined, opts: { name?: string; token?: string | null; fields?: Record<string, string>; headers?: Record<string, string>; body?: BodyInit; duplex?: string } = {}) {
  let body = opts.body;
  if (!body) {
    const form = new FormData();
    if (file) form.append('image', new Blob([new Uint8Array(file)]), opts.name ?? 'image.jpg');
    for (const [k, v] of Object.entries(opts.fields ?? {})) form.append(k, v);
    body = form;
  }
  const token = opts.token === undefined ? TOKEN : opts.token;
  const res = await fetch(`${base}${route}`, {
    method: 'POST', body, ...(opts.duplex ? { duplex: opts.duplex } : {}),
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(opts.headers ?? {}) },
  });
  const buf = Buffer.from(await res.arrayBuffer());
  const json = /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(buf.toString()) : undefined;
  return { status: res.status, headers: res.headers, buf, json };
}

/** A multipart upload sent as a stream (Transfer-Encoding: chunked), so the server cannot check a Content-Length. */
function chunked(file: Buffer) {
  const boundary = 'gradcam-test-boundary';
  const parts = [
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    file, Buffer.from(`\r\n--${boundary}--\r\n`),
  ];
  const body = new ReadableStream<Uint8Array>({
    start(c) { for (const p of parts) for (let i = 0; i < p.length; i += 65536) c.enqueue(new Uint8Array(p.subarray(i, i + 65536))); c.close(); },
  });
  return { body: body as unknown as BodyInit, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, duplex: 'half' };
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

describe('gradcam serve (in-process app on 127.0.0.1)', () => {
  let model: ExplainableModel;
  let app: FastifyInstance;
  let base: string;
  let catDog: Buffer;
  let small: Buffer;

  beforeAll(async () => {
    model = await sharedModelOf(MODEL_025);
    app = await buildApp({ model, token: TOKEN, maxBodyBytes: 1 << 20, queueSize: 16 });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    catDog = readFileSync(sharedImage('cat_dog.jpg'));
    small = await sharp(catDog).resize(96, 72).jpeg().toBuffer();
  });
  afterAll(async () => { await app?.close(); });

  it("answers the CLI's JSON for an upload, and the overlay PNG on request", async () => {
    const r = await post(base, '/v1/explain?class=282&method=gradcam', catDog, { name: 'cat_dog.jpg', fields: { class: '243', target: 'contrast:282-243' } });
    expect(r.status).toBe(200);
    const image = await readImage(sharedImage('cat_dog.jpg'));
    const [local] = await explainImages(model, [{ file: 'cat_dog.jpg', image }], { class: ['282', '243'], target: ['contrast:282-243'], method: 'gradcam' });
    expect(r.json).toEqual(local.json);
    expect(r.json.targets.map((t: { target: string }) => t.target)).toEqual(local.json.targets.map((t) => t.target));
    expect(r.json.targets).toHaveLength(3);

    const png = await post(base, '/v1/explain?class=282', catDog, { name: 'cat_dog.jpg', headers: { accept: 'image/png' } });
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(png.buf.equals(local.files.find((f) => f.suffix === '.282.png')!.data)).toBe(true);

    const c = await post(base, '/v1/classify?top=3', catDog);
    expect(c.status).toBe(200);
    expect(c.json.predictions.map((p: { classIndex: number }) => p.classIndex)).toEqual(local.json.predictions.slice(0, 3).map((p) => p.classIndex));
  });

  it('serves model info, health without a token, Prometheus metrics and an OpenAPI document', async () => {
    const h = await fetch(`${base}/healthz`);
    expect(h.status).toBe(200);
    const m = await (await fetch(`${base}/v1/model`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as { labels: number; layers: { name: string }[]; methods: string[]; defaultLayer: string };
    expect(m.labels).toBe(1000);
    expect(m.layers.map((l) => l.name)).toContain(m.defaultLayer);
    expect(m.methods).toContain('gradcam++');
    const metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(metrics).toMatch(/gradcam_http_requests_total\{route="\/v1\/explain",method="POST",status="200"\} \d+/);
    expect(metrics).toMatch(/gradcam_http_request_duration_seconds_bucket/);
    expect(metrics).toMatch(/gradcam_http_in_flight/);
    expect(metrics).toMatch(/gradcam_process_resident_memory_bytes/);
    const doc = await (await fetch(`${base}/openapi.json`)).json() as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/explain', '/v1/classify', '/v1/model', '/healthz']));
  });

  it('answers each bad input with the right 4xx and a JSON error, then serves a good request', async () => {
    const truncated = catDog.subarray(0, 20_000);
    const cases: [string, () => ReturnType<typeof post>, number, RegExp][] = [
      ['empty file', () => post(base, '/v1/explain', Buffer.alloc(0), { name: 'empty.jpg' }), 400, /empty\.jpg: empty file/],
      ['non-image', () => post(base, '/v1/explain', Buffer.from('this is not an image'), { name: 'notes.png' }), 415, /notes\.png: not an image/],
      ['truncated', () => post(base, '/v1/explain', truncated, { name: 'truncated.jpg' }), 422, /truncated\.jpg: truncated or corrupt/],
      ['100000×100000 PNG', () => post(base, '/v1/explain', hugePng(), { name: 'huge.png' }), 413, /unusable image size 100000×100000/],
      ['oversized body', () => post(base, '/v1/explain', Buffer.concat([catDog, Buffer.alloc(1 << 20)]), { name: 'big.jpg' }), 413, /larger than the limit/],
      ['oversized chunked body (no Content-Length)', () => post(base, '/v1/explain', undefined, chunked(Buffer.concat([catDog, Buffer.alloc(1 << 20)]))), 413, /larger than the limit/],
      ['wrong token', () => post(base, '/v1/explain', small, { token: 'wrong' }), 401, /wrong bearer token/],
      ['token of another length', () => post(base, '/v1/explain', small, { token: 'x'.repeat(300) }), 401, /wrong bearer token/],
      ['no token', () => post(base, '/v1/explain', small, { token: null }), 401, /missing bearer token/],
      ['wrong content type', () => post(base, '/v1/explain', undefined, { body: JSON.stringify({ image: 'x' }), headers: { 'content-type': 'application/json' } }), 415, /multipart\/form-data/],
      ['raw bytes', () => post(base, '/v1/explain', undefined, { body: new Uint8Array(small), headers: { 'content-type': 'image/jpeg' } }), 415, /multipart\/form-data/],
      ['no image field', () => post(base, '/v1/explain', undefined, { fields: { class: '1' } }), 400, /no image/],
      ['unknown class', () => post(base, '/v1/explain?class=unicorn', small), 400, /unicorn/],
      ['a target that would read a server file', () => post(base, '/v1/explain?target=similar:/etc/hostname', small), 400, /similar/],
      ['unknown method', () => post(base, '/v1/explain?method=magic', small), 400, /method must be equal to one of/],
      ['top out of range', () => post(base, '/v1/explain', small, { fields: { top: '999' } }), 400, /top must be <= 10/],
      ['unknown route', () => post(base, '/v1/nothing', small), 404, /no route/],
    ];
    for (const [what, send, status, error] of cases) {
      const r = await send();
      expect(r.status, what).toBe(status);
      expect(r.json?.error, what).toMatch(error);
    }
    const ok = await post(base, '/v1/explain', small, { name: 'small.jpg' });
    expect(ok.status).toBe(200);
    expect(ok.json.targets).toHaveLength(1);
  });

  it('never fetches a URL for a client', async () => {
    let hits = 0;
    const bait = http.createServer((_req, res) => { hits++; res.end(catDog); });
    await new Promise<void>((r) => bait.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(bait.address() as { port: number }).port}/cat.jpg`;
    try {
      for (const r of [
        await post(base, `/v1/explain?url=${encodeURIComponent(url)}`, small),
        await post(base, '/v1/explain', undefined, { fields: { url } }),
        await post(base, '/v1/explain', undefined, { fields: { image: url } }),
        await post(base, '/v1/classify', small, { fields: { url } }),
      ]) {
        expect(r.status).toBe(400);
        expect(r.json.error).toMatch(/unknown option 'url'|no image/);
      }
      expect(hits).toBe(0);
    } finally {
      bait.close();
    }
  });

  it('takes concurrent requests without a 5xx and keeps tensors and memory flat', async () => {
    // the 200 requests at concurrency 16 and 500 for memory are `npm run bench -- serve`
    const total = 48;
    const concurrency = 16;
    await post(base, '/v1/explain', small); // warm
    const tensors = tf.memory().numTensors;
    const rss0 = process.memoryUsage().rss;
    const times: number[] = [];
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const t0 = performance.now();
        const r = await post(base, '/v1/explain', small);
        times.push(performance.now() - t0);
        statuses.push(r.status);
      }
    }));
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(tf.memory().numTensors).toBe(tensors);
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(`${total} requests at concurrency ${concurrency}: p50 ${percentile(times, 50).toFixed(0)} ms, p99 ${percentile(times, 99).toFixed(0)} ms; RSS +${grown.toFixed(0)} MB, tensors ${tensors} → ${tf.memory().numTensors}`);
    expect(grown).toBeLessThan(200);
  });

  it('answers 429 with Retry-After when its queue is full, and serves again afterwards', async () => {
    const tight = await buildApp({ model, queueSize: 2 });
    const url = await tight.listen({ host: '127.0.0.1', port: 0 });
    try {
      const rs = await Promise.all(Array.from({ length: 8 }, () => post(url, '/v1/explain', small, { token: null })));
      const busy = rs.filter((r) => r.status === 429);
      expect(rs.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(2);
      expect(busy.length).toBeGreaterThan(0);
      expect(rs.every((r) => r.status === 200 || r.status === 429)).toBe(true);
      for (const r of busy) {
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(r.json.error).toMatch(/busy/);
      }
      expect((await post(url, '/v1/explain', small, { token: null })).status).toBe(200);
    } finally {
      await tight.close();
    }
  });

  it('answers 503 with Retry-After when a request waits longer than the timeout for its turn', async () => {
    const slow = await buildApp({ model, timeoutMs: 1, queueSize: 8 });
    const url = await slow.listen({ host: '127.0.0.1', port: 0 });
    try {
      const rs = await Promise.all(Array.from({ length: 4 }, () => post(url, '/v1/explain', small, { token: null })));
      const late = rs.filter((r) => r.status === 503);
      expect(rs.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(1);
      expect(late.length).toBeGreaterThan(0);
      for (const r of late) {
        expect(r.json.error).toMatch(/timed out after 1 ms waiting for a turn/);
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
    } finally {
      await slow.close();
    }
  });
});

describe('gradcam serve (a real process)', () => {
  it('finishes in-flight requests on SIGTERM, then exits 0', async () => {
    const proc = spawn('node', [path.join(REPO_ROOT, 'bin/gradcam.js'), 'serve', '--model', MODEL_025, '--port', '0', '--token', TOKEN], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    proc.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    const t0 = Date.now();
    while (!/serving .* on (http:\/\/\S+)/.test(log)) {
      if (Date.now() - t0 > 60_000 || proc.exitCode !== null) throw new Error(`server did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const base = /serving .* on (http:\/\/\S+)/.exec(log)![1];
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/); // loopback by default
    const catDog = readFileSync(sharedImage('cat_dog.jpg'));
    const answered: number[] = [];
    const inFlight = Array.from({ length: 4 }, () => post(base, '/v1/explain?top=2', catDog).then((r) => { answered.push(Date.now()); return r; }));
    // SIGTERM once all four are admitted (answered, or waiting/running) and at least one is still unanswered
    for (;;) {
      const { queued } = await (await fetch(`${base}/healthz`)).json() as { queued: number };
      if (queued >= 1 && queued + answered.length >= 4) break;
      if (answered.length === 4) throw new Error('all requests finished before the SIGTERM could be sent');
      await new Promise((r) => setTimeout(r, 20));
    }
    const killed = Date.now();
    proc.kill('SIGTERM');
    const rs = await Promise.all(inFlight);
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(answered.filter((t) => t > killed).length).toBeGreaterThan(0); // they were in flight at the SIGTERM
    expect(await exited).toBe(0);
    expect(log).toMatch(/SIGTERM: finishing in-flight requests[\s\S]*stopped/);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});

/**
 * `gradcam serve`: an HTTP API over one loaded model (Fastify, schema-first). Images arrive only as
 * multipart uploads — the server never fetches a URL for a client. Explaining runs in this process,
 * one request at a time, behind a bounded queue that answers 429 + Retry-After when full.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import { classify } from '../core/explain.js';
import { methods } from '../methods/index.js';
import { GradcamError, type ExplainableModel } from '../model/types.js';
import { decodeImage } from '../node/image.js';
import { explainImages, type ExplainJobOptions } from '../node/jobs.js';
import { resolveLayers } from '../core/explain.js';
import { parseTarget } from '../targets/index.js';
import { Admission } from './admission.js';
import { createMetrics } from './metrics.js';
import * as S from './schemas.js';

export interface ServeOptions {
  model: ExplainableModel;
  /** Bearer token every /v1 and /metrics request must carry (compared in constant time). */
  token?: string;
  /** Largest request body (bytes; default 10 MB): 413 beyond. */
  maxBodyBytes?: number;
  /** Largest decoded image (pixels; default 40 M): 413 beyond, checked from the header before decoding. */
  maxPixels?: number;
  /** Requests admitted at once (running + waiting; default 16): 429 + Retry-After beyond. */
  queueSize?: number;
  /** Longest wait for a turn once admitted (ms; default 30 s): 503 + Retry-After beyond. */
  timeoutMs?: number;
  /** Longest time to receive a whole request (ms; default `timeoutMs`, at least 1 s): slow uploads are cut off. */
  receiveTimeoutMs?: number;
  /** Fastify's logger (default off). */
  logger?: boolean;
}

/** HTTP status for a bad image, by what {@link decodeImage} found. */
function imageStatus(e: GradcamError): number {
  if (/empty file/.test(e.message)) return 400;
  if (/not an image/.test(e.message)) return 415;
  if (/unusable image size/.test(e.message)) return 413;
  return 422; // truncated or corrupt
}

class HttpError extends Error {
  constructor(readonly statusCode: number, message: string, readonly headers: Record<string, string> = {}) { super(message); }
}

interface ValidationIssue { instancePath: string; message?: string; params?: Record<string, unknown> }

/** One line for the first schema violation, naming the option (`unknown option 'url'`, `top must be <= 10`). */
function validationMessage(errors: ValidationIssue[], fallback: string): string {
  const e = errors[0];
  if (!e) return fallback;
  if (e.params && 'additionalProperty' in e.params) return `unknown option '${String(e.params.additionalProperty)}' (images are accepted only as uploads)`;
  const name = e.instancePath.replace(/^\//, '').replace(/\/\d+$/, '') || 'options';
  return `${name} ${e.message ?? 'is invalid'}${e.params && 'allowedValues' in e.params ? `: ${(e.params.allowedValues as string[]).join(', ')}` : ''}`;
}

const round = (v: number) => Number(v.toFixed(6));

const sha = (s: string) => createHash('sha256').update(s).digest();

/** Builds the app (not listening): `await app.listen({ host, port })`, `await app.close()` to drain. */
export async function buildApp(opts: ServeOptions): Promise<FastifyInstance> {
  const { model } = opts;
  const maxBody = opts.maxBodyBytes ?? 10 * 1024 * 1024;
  const maxPixels = opts.maxPixels ?? 40_000_000;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const admission = new Admission(opts.queueSize ?? 16);
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: maxBody,
    requestTimeout: Math.max(1000, opts.receiveTimeoutMs ?? timeoutMs),
    connectionTimeout: Math.max(1000, opts.receiveTimeoutMs ?? timeoutMs),
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });
  const metrics = createMetrics(() => admission.held);
  const tokenHash = opts.token ? sha(opts.token) : undefined;

  await app.register(swagger, {
    openapi: {
      info: { title: 'gradcam', version: '1', description: 'Grad-CAM explanations of one TF.js model over HTTP' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: opts.token ? [{ bearer: [] }] : [],
    },
  });
  await app.register(multipart, { limits: { fileSize: maxBody, files: 1, fields: 32, fieldSize: 1024, parts: 40 } });

  app.addHook('onRequest', async (req, reply) => {
    metrics.inFlight.inc();
    (req as { started?: bigint }).started = process.hrtime.bigint();
    const open = req.url === '/healthz' || req.url.startsWith('/openapi');
    if (tokenHash && !open) {
      const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      // hashing first makes both sides 32 bytes: the compare takes the same time for any token
      if (!m || !timingSafeEqual(sha(m[1]), tokenHash)) {
        reply.header('WWW-Authenticate', 'Bearer');
        throw new HttpError(401, m ? 'wrong bearer token' : 'missing bearer token (Authorization: Bearer <token>)');
      }
    }
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > maxBody) throw new HttpError(413, `request body of ${length} bytes is larger than the limit of ${maxBody}`);
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.inFlight.dec();
    const route = req.routeOptions.url ?? 'unmatched';
    const seconds = Number(process.hrtime.bigint() - ((req as { started?: bigint }).started ?? process.hrtime.bigint())) / 1e9;
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, seconds);
    if (reply.statusCode >= 400) metrics.errors.inc({ route, status: String(reply.statusCode) });
  });

  // On close, in-flight requests finish; their responses then close the connection instead of keeping it alive.
  let closing = false;
  app.addHook('preClose', async () => { closing = true; });
  app.addHook('onSend', async (_req, reply) => { if (closing) reply.header('Connection', 'close'); });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; code?: string }, _req, reply) => {
    let status = err.statusCode ?? 500;
    let message = err.message;
    if (err instanceof HttpError) for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
    if (err.validation) { status = 400; message = `bad request: ${validationMessage(err.validation as ValidationIssue[], err.message)}`; }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') { status = 415; message = 'send the image as multipart/form-data with a file field named image'; }
    if (err.code === 'FST_REQ_FILE_TOO_LARGE' || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') { status = 413; message = `request body is larger than the limit of ${maxBody} bytes`; }
    if (status >= 500) { app.log.error(err); message = `internal error: ${err.message.split('\n')[0]}`; }
    if (status === 503 || status === 429) reply.header('Connection', 'close');
    reply.code(status).type('application/json').send({ error: message });
  });
  app.setNotFoundHandler((req, reply) => { reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}` }); });

  /** Reads the upload: the `image` file and option fields (each option also allowed in the query). */
  async function readUpload(req: FastifyRequest): Promise<{ bytes: Buffer; name: string; fields: Record<string, string | string[]> }> {
    if (!req.isMultipart()) throw new HttpError(415, 'send the image as multipart/form-data with a file field named image');
    let bytes: Buffer | undefined;
    let name = 'upload';
    const fields: Record<string, string | string[]> = {};
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'image') { await part.toBuffer(); throw new HttpError(400, `unexpected file field '${part.fieldname}'; send the image as the field image`); }
        bytes = await part.toBuffer();
        name = path.basename(part.filename || 'upload');
      } else {
        const v = String(part.value);
        const old = fields[part.fieldname];
        fields[part.fieldname] = old === undefined ? v : [...(Array.isArray(old) ? old : [old]), v];
      }
    }
    if (!bytes) throw new HttpError(400, 'no image: send a multipart file field named image');
    return { bytes, name, fields };
  }

  /** The query merged with the form fields, validated against the route's query schema. */
  function options<T>(req: FastifyRequest, fields: Record<string, string | string[]>): T {
    const merged: Record<string, unknown> = { ...(req.query as Record<string, unknown>) };
    for (const [k, v] of Object.entries(fields)) {
      const old = merged[k];
      merged[k] = old === undefined ? v : [old, v].flat(); // a repeatable option (class) may come both ways
    }
    if (!req.validateInput(merged, 'querystring')) {
      const errors = (req.getValidationFunction('querystring')?.errors ?? []) as ValidationIssue[];
      throw new HttpError(400, `bad request: ${validationMessage(errors, 'invalid options')}`);
    }
    return merged as T;
  }

  async function decode(bytes: Buffer, name: string) {
    try {
      return await decodeImage(bytes, name, maxPixels);
    } catch (e) {
      if (e instanceof GradcamError) throw new HttpError(imageStatus(e), e.message);
      throw e;
    }
  }

  /** Runs `f` when it is this request's turn; 429 when the queue is full, 503 when the turn does not come in time. */
  function admit() {
    const ticket = admission.enter();
    if (!ticket) {
      metrics.rejected.inc();
      throw new HttpError(429, `busy: ${admission.capacity} requests already queued; retry later`, { 'Retry-After': String(admission.retryAfter()) });
    }
    return ticket;
  }
  async function inTurn<T>(ticket: NonNullable<ReturnType<Admission['enter']>>, f: () => Promise<T>): Promise<T> {
    return ticket.run(f, timeoutMs, () => new HttpError(503, `timed out after ${timeoutMs} ms waiting for a turn`, { 'Retry-After': String(admission.retryAfter()) }));
  }

  const badOption = (e: unknown) => (e instanceof GradcamError ? new HttpError(400, e.message) : e);

  app.get('/healthz', { schema: S.health }, async () => ({ status: 'ok', queued: admission.held }));

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/v1/model', { schema: S.modelInfo }, async () => ({
    name: model.name,
    format: model.format,
    source: model.source,
    labels: model.labels.length,
    inputSize: model.preprocessing.size,
    layers: model.layers.map((l) => ({ name: l.name, shape: l.shape })),
    outputs: model.outputs.map((o) => ({ name: o.name, shape: o.shape })),
    defaultLayer: model.defaultLayer,
    methods: Object.keys(methods),
  }));

  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.post('/v1/explain', { schema: S.explain }, async (req, reply) => {
    const ticket = admit();
    try {
      const { bytes, name, fields } = await readUpload(req);
      const q = options<S.ExplainQuery>(req, fields);
      const classes = q.class ?? [];
      const targets = q.target ?? [];
      try {
        resolveLayers(model, q.layer);
        // the target forms that need no files (similar:<image> would read the server's files: refused)
        [...classes, ...targets].forEach((t) => parseTarget(t, model));
      } catch (e) { throw badOption(e); }
      const image = await decode(bytes, name);
      const jobOpts: ExplainJobOptions = {
        class: classes, target: targets, top: q.top, method: q.method, layer: q.layer, colormap: q.colormap, alpha: q.alpha,
        counterfactual: q.counterfactual, weights: q.weights, batch: 1,
      };
      const [out] = await inTurn(ticket, () => explainImages(model, [{ file: name, image }], jobOpts));
      const png = q.format === 'png' || (q.format === undefined && /image\/png/.test(req.headers.accept ?? '') && !/json/.test(req.headers.accept ?? ''));
      if (png) {
        const cls = out.json.targets[0]?.classIndex;
        const file = out.files.find((f) => f.suffix === `.${cls}.png`);
        if (!file) throw new HttpError(422, 'no target to draw');
        return reply.type('image/png').send(file.data);
      }
      return out.json;
    } finally {
      ticket.leave();
    }
  });

  app.post('/v1/classify', { schema: S.classify }, async (req) => {
    const ticket = admit();
    try {
      const { bytes, name, fields } = await readUpload(req);
      const q = options<S.ClassifyQuery>(req, fields);
      const image = await decode(bytes, name);
      const [predictions] = await inTurn(ticket, () => classify(model, [image], q.top ?? 5, 1));
      return {
        image: name, width: image.width, height: image.height, model: model.source,
        predictions: predictions.map((p) => ({ classIndex: p.classIndex, className: p.className, logit: round(p.logit), probability: round(p.probability) })),
      };
    } finally {
      ticket.leave();
    }
  });

  return app;
}

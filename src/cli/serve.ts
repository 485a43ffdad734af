/** `gradcam serve`: the HTTP API (src/serve/app.ts) on one model, until SIGTERM/SIGINT (in-flight requests finish). */
import type { Command } from 'commander';
import { GradcamError } from '../model/types.js';
import { buildApp } from '../serve/app.js';
import { openModel, positiveInt, withModelOptions, type ModelOptions } from './common.js';

interface ServeCliOptions extends ModelOptions {
  host: string; port: number; token?: string; maxBody: number; maxPixels: number; queueSize: number; timeout: number; log?: boolean;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new GradcamError(`--port must be 0–65535, got '${v}'`);
  return n;
}

export function register(program: Command): void {
  withModelOptions(program.command('serve')
    .description('HTTP API: POST /v1/explain, POST /v1/classify, GET /v1/model, /healthz, /metrics, /openapi.json')
    .option('--host <addr>', 'address to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option('--port <n>', 'port (0: any free one)', port, 8080)
    .option('--token <secret>', 'require Authorization: Bearer <secret> on /v1 and /metrics (or $GRADCAM_TOKEN)')
    .option('--max-body <bytes>', 'largest upload', positiveInt('--max-body'), 10 * 1024 * 1024)
    .option('--max-pixels <n>', 'largest image, width × height', positiveInt('--max-pixels'), 40_000_000)
    .option('--queue-size <n>', 'requests admitted at once (waiting or running); more get 429 + Retry-After', positiveInt('--queue-size'), 16)
    .option('--timeout <ms>', 'longest wait for a turn, and for receiving a request', positiveInt('--timeout'), 30_000)
    .option('--log', 'log every request (JSON lines on stdout)'))
    .action(async (opts: ServeCliOptions) => {
      const model = await openModel(opts);
      const app = await buildApp({
        model, token: opts.token ?? process.env.GRADCAM_TOKEN, maxBodyBytes: opts.maxBody, maxPixels: opts.maxPixels,
        queueSize: opts.queueSize, timeoutMs: opts.timeout, logger: !!opts.log,
      });
      const address = await app.listen({ host: opts.host, port: opts.port });
      process.stderr.write(`serving ${model.source} on ${address}\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`${signal}: finishing in-flight requests\n`);
          void app.close().then(() => { model.dispose(); resolve(); });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      process.stderr.write('stopped\n');
    });
}

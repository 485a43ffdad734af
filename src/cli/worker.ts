/** `gradcam worker --queue <url>`: explains queued images until stopped (SIGTERM/SIGINT finish the jobs in hand). */
import type { Command } from 'commander';
import { queueUrl } from '../queue/common.js';
import { startWorker } from '../queue/worker.js';
import { positiveInt } from './common.js';

export function register(program: Command): void {
  program.command('worker')
    .description('explain images queued with `--queue` (run one per machine; --concurrency child processes, one core each)')
    .requiredOption('--queue <redis-url>', 'Redis URL, e.g. redis://10.0.0.5:6379')
    .option('--concurrency <n>', 'jobs at once, each in its own process (about one per core)', positiveInt('--concurrency'), 1)
    .option('--lock-duration <ms>', "how long a job's lock lasts unrenewed: a dead worker's job is taken over after about this long", positiveInt('--lock-duration'), 30_000)
    .option('--quiet', 'no line per job')
    .action(async (opts: { queue: string; concurrency: number; lockDuration: number; quiet?: boolean }) => {
      queueUrl(opts.queue);
      const worker = startWorker({
        url: opts.queue, concurrency: opts.concurrency, lockDuration: opts.lockDuration,
        onJob: (e) => {
          if (!e.ok) process.stderr.write(`error: ${e.error}\n`);
          else if (!opts.quiet) process.stderr.write(`done ${e.id} ${e.file} ${e.ms} ms\n`);
        },
      });
      await worker.waitUntilReady();
      process.stderr.write(`worker ready (pid ${process.pid}, concurrency ${opts.concurrency})\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`worker: ${signal}, finishing the jobs in hand\n`);
          void worker.close().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
}

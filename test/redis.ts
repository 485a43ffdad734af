/**
 * A real Redis for tests: Debian's `/usr/bin/redis-server` on a free loopback port, with its own
 * temporary folder and the append-only file on (so a restart keeps the queue), stopped afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  /** Kills the server (SIGKILL: no clean shutdown, like a crash) and starts it again on the same port and data. */
  restart(opts?: { downMs?: number }): Promise<void>;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

function launch(port: number, dir: string): Promise<ChildProcess> {
  const proc = spawn(REDIS_SERVER, [
    '--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '',
    // every write is on disk before it is acknowledged: a kill -9 loses nothing
    '--appendonly', 'yes', '--appendfsync', 'always',
    '--daemonize', 'no', '--logfile', '', '--maxmemory-policy', 'noeviction',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`redis-server did not start in 10 s:\n${log}`)); }, 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      log += d.toString();
      if (/Ready to accept connections/.test(log)) {
        clearTimeout(timer);
        proc.stdout!.removeAllListeners('data');
        proc.stdout!.resume();
        resolve(proc);
      }
    });
    proc.stderr!.resume();
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited (${code}):\n${log}`)); });
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

const exited = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));

/** Starts a private Redis. */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradcam-redis-'));
  let proc = await launch(port, dir);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async restart({ downMs = 500 } = {}) {
      proc.kill('SIGKILL');
      await exited(proc);
      await new Promise((r) => setTimeout(r, downMs));
      proc = await launch(port, dir);
    },
    async stop() {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited(proc);
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

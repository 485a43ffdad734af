/**
 * A stranger's project, made in a temp dir: the package is built and packed (`npm pack`), and the
 * tarball is installed with npm from npm's cache only (`npm ci --offline`), so no test touches the
 * network. Used by test/package.test.ts and `npm run bench -- package`.
 *
 * `npm install ./gradcam-0.2.0.tgz` would first fetch every dependency's registry metadata to resolve
 * versions, which a clean CI machine has not cached (its `npm ci` fetched tarballs only). So the temp
 * project gets a lockfile instead: the tarball itself plus the closure of its runtime dependencies and
 * required peers, taken from the repository's package-lock.json (the same versions the repo is tested
 * with, whose tarballs `npm ci` has just put in the cache). npm then installs exactly what a user's
 * `npm install gradcam` would place: no dev dependencies, no optional peers.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../scripts/shared.js';

/** Runs a command; rejects with its output when it fails. */
export function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** `npm run build`, then `npm pack` into `dir`: the tarball's path and size. */
export async function buildAndPack(dir: string): Promise<{ tarball: string; bytes: number }> {
  await run('npm', ['run', 'build', '--silent'], REPO_ROOT);
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], REPO_ROOT);
  const [info] = JSON.parse(stdout) as { filename: string }[];
  const tarball = path.join(dir, info.filename);
  return { tarball, bytes: statSync(tarball).size };
}

interface LockEntry {
  version?: string; resolved?: string; integrity?: string; link?: boolean;
  dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dev?: boolean; optional?: boolean; devOptional?: boolean; peer?: boolean; os?: string[]; cpu?: string[];
  [key: string]: unknown;
}

const REGISTRY = 'https://registry.npmjs.org/';

/** Where Node would find `name` from the lock path `from` ('' is the root). */
function resolveIn(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!dir) return undefined;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i < 0 ? '' : dir.slice(0, i);
  }
}

/** The temp project's lockfile: the tarball and its runtime closure out of the repository's lock. */
export function consumerLock(tarball: string, extra: Record<string, string> = {}): object {
  const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as LockEntry & { name: string; version: string; bin?: object; engines?: object; license?: string };
  const file = `file:${path.basename(tarball)}`;
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const packages: Record<string, LockEntry> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { [pkg.name]: file, ...extra } },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version, resolved: file, integrity, license: pkg.license, dependencies: pkg.dependencies,
      peerDependencies: pkg.peerDependencies, peerDependenciesMeta: pkg.peerDependenciesMeta, bin: pkg.bin, engines: pkg.engines,
    },
  };
  const queue: [string, LockEntry][] = [['', { dependencies: extra }], [`node_modules/${pkg.name}`, pkg]];
  while (queue.length) {
    const [at, entry] = queue.shift()!;
    const wanted: [string, boolean][] = [
      ...Object.keys(entry.dependencies ?? {}).map((n): [string, boolean] => [n, false]),
      ...Object.keys(entry.optionalDependencies ?? {}).map((n): [string, boolean] => [n, true]),
      ...Object.keys(entry.peerDependencies ?? {}).filter((n) => !entry.peerDependenciesMeta?.[n]?.optional).map((n): [string, boolean] => [n, false]),
    ];
    for (const [name, optional] of wanted) {
      const found = resolveIn(lock.packages, at.startsWith(`node_modules/${pkg.name}`) ? '' : at, name);
      if (!found) {
        if (optional) continue;
        throw new Error(`package-lock.json has no ${name} (needed by ${at || 'the consumer'})`);
      }
      if (packages[found]) continue;
      const { dev: _dev, devOptional, peer: _peer, ...rest } = lock.packages[found];
      const copy: LockEntry = rest;
      // The repo's lock omits registry URLs; npm finds the tarball in its cache by integrity.
      const id = found.slice(found.lastIndexOf('node_modules/') + 'node_modules/'.length);
      if (!copy.resolved && !copy.link) copy.resolved = `${REGISTRY}${id}/-/${id.split('/').pop()}-${copy.version}.tgz`;
      if (optional || devOptional || rest.optional || rest.os || rest.cpu) copy.optional = true;
      packages[found] = copy;
      queue.push([found, lock.packages[found]]);
    }
  }
  return { name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

/**
 * Makes `dir` a project that depends on the tarball (plus `extra` packages from the repo's lock, e.g.
 * vite) and installs it offline from npm's cache, as `npm ci` would on a user's machine.
 */
export async function installConsumer(dir: string, tarball: string, extra: Record<string, string> = {}): Promise<void> {
  const lock = consumerLock(tarball, extra) as { packages: Record<string, LockEntry> };
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: lock.packages[''].dependencies }, null, 2));
  writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify(lock, null, 2));
  await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], dir, { ONNXRUNTIME_NODE_INSTALL: 'skip' });
}

/** Bytes of a folder's files (symlinks not followed). */
export function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir)) {
    const p = path.join(dir, entry);
    const s = lstatSync(p);
    total += s.isDirectory() ? folderBytes(p) : s.size;
  }
  return total;
}

const MIME: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.bin': 'application/octet-stream', '.png': 'image/png', '.jpg': 'image/jpeg', '.svg': 'image/svg+xml',
};

/**
 * A plain static file server on 127.0.0.1 (what GitHub Pages or any CDN does): `mounts` maps URL
 * prefixes (`/models/`, `/`) to folders; a folder's URL without the slash (`/demo`) redirects to `/demo/`
 * and serves its index.html; no directory listing.
 */
export async function serveStatic(mounts: Record<string, string>): Promise<{ url: string; close: () => Promise<void> }> {
  const { createServer } = await import('node:http');
  const { createReadStream } = await import('node:fs');
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const pathname = decodeURIComponent(url.pathname);
    for (const [prefix, dir] of Object.entries(mounts).sort((a, b) => b[0].length - a[0].length)) {
      if (!pathname.startsWith(prefix)) continue;
      let file = path.resolve(dir, pathname.slice(prefix.length));
      if (file !== dir && !file.startsWith(dir + path.sep)) break;
      try {
        if (statSync(file).isDirectory()) {
          if (!pathname.endsWith('/')) {
            res.writeHead(301, { Location: `${pathname}/${url.search}` }).end();
            return;
          }
          file = path.join(file, 'index.html');
        }
        const size = statSync(file).size;
        res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': size });
        createReadStream(file).pipe(res);
        return;
      } catch {
        break;
      }
    }
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

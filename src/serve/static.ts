/**
 * A small static file server for the browser playground (web/) and the model files it fetches. Serves
 * only files under its roots, GET and HEAD only, on localhost by default.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';

const mimeTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
};

export interface StaticServerOptions {
  /** Served at `/`. */
  root: string;
  /** Extra directories served under a URL prefix, e.g. { '/model': './my-model' }. */
  mounts?: Record<string, string>;
  port?: number;
  host?: string;
  /** `/` redirects here (e.g. '/web/'). */
  index?: string;
}

export interface StaticServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** The file for a URL path under `root`, or null when the path escapes it. */
function resolveUnder(root: string, urlPath: string): string | null {
  const base = resolve(root);
  const file = resolve(base, `.${normalize(`/${urlPath}`)}`);
  return file === base || file.startsWith(base + sep) ? file : null;
}

export function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const { root, mounts = {}, port = 8080, host = '127.0.0.1', index } = options;
  const server = createServer((request, response) => {
    const fail = (code: number, message: string) => {
      response.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(`${message}\n`);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return fail(405, 'only GET and HEAD are served');
    let path: string;
    try {
      path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    } catch {
      return fail(400, 'malformed URL');
    }
    if (path.split('/').includes('..')) return fail(403, 'paths may not contain ..');
    if (path === '/' && index) {
      response.writeHead(302, { location: index });
      return response.end();
    }
    const mount = Object.keys(mounts).find((prefix) => path === prefix || path.startsWith(`${prefix}/`));
    let file = mount ? resolveUnder(mounts[mount]!, path.slice(mount.length)) : resolveUnder(root, path);
    if (!file) return fail(403, 'outside the served directory');
    let info = statSync(file, { throwIfNoEntry: false });
    if (info?.isDirectory()) {
      file = join(file, 'index.html');
      info = statSync(file, { throwIfNoEntry: false });
    }
    if (!info?.isFile()) return fail(404, `not found: ${path}`);
    response.writeHead(200, {
      'content-type': mimeTypes[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': 'no-cache',
    });
    if (request.method === 'HEAD') return response.end();
    createReadStream(file).pipe(response);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address() as AddressInfo;
      resolvePromise({
        url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
        server,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

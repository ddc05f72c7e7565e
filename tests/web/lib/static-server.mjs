// A small HTTP server on 127.0.0.1 that serves the web/ folder as the ember
// binary would (same paths, media types by extension) plus any extra routes
// a caller adds. The benchmark uses it to load the UI's own modules; the
// routes let it hand the page a generated profile.

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const webRoot = path.join(repoRoot, 'web');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

// routes: { '/path': (req, url) => ({ status, type, body }) | Promise<...> }
export async function startStaticServer(routes = {}) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    try {
      const route = routes[url.pathname];
      if (route) {
        const r = await route(req, url);
        res.writeHead(r.status || 200, { 'Content-Type': r.type || 'application/json' });
        res.end(r.body);
        return;
      }
      const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
      const file = path.join(webRoot, rel);
      if (!file.startsWith(webRoot + path.sep)) throw Object.assign(new Error('outside'), { code: 'ENOENT' });
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
      res.end(body);
    } catch (e) {
      res.writeHead(e.code === 'ENOENT' || e.code === 'EISDIR' ? 404 : 500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: `no such file: ${url.pathname}` }));
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

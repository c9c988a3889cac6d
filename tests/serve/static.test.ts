/** The playground's static server: serves files under its roots only, with types, on localhost. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { type StaticServer, startStaticServer } from '../../src/serve/static.js';

let server: StaticServer;
before(async () => {
  server = await startStaticServer({
    root: '.',
    mounts: { '/model': 'tests/fixtures/hf/llama' },
    port: 0,
    index: '/web/?model=/model',
  });
});
after(() => server.close());

/** A raw request (fetch would normalise `..` away before sending). */
function get(
  path: string,
  method = 'GET',
): Promise<{ status: number; type: string; body: string; location?: string }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          type: String(res.headers['content-type'] ?? ''),
          body,
          location: res.headers.location,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

test('serves the playground, the library and mounted model files with their types', async () => {
  const root = await get('/');
  assert.equal(root.status, 302);
  assert.equal(root.location, '/web/?model=/model');
  const page = await get('/web/');
  assert.equal(page.status, 200);
  assert.match(page.type, /text\/html/);
  assert.match(page.body, /slmkit playground/);
  const script = await get('/web/main.js');
  assert.match(script.type, /javascript/);
  assert.match(script.body, /loadHFModelFromFiles/);
  const config = await get('/model/config.json');
  assert.equal(config.status, 200);
  assert.equal(JSON.parse(config.body).model_type, 'llama');
  const weights = await get('/model/model.safetensors', 'HEAD');
  assert.equal(weights.status, 200);
  assert.equal(weights.type, 'application/octet-stream');
});

test('refuses paths outside its roots, other methods, and reports missing files', async () => {
  // Plain `..` segments are resolved by the URL parser before routing (they cannot climb above `/`);
  // encoded slashes would smuggle them past it, so decoded paths with `..` are refused.
  const climbed = await get('/model/../../../package.json');
  assert.equal(
    JSON.parse(climbed.body).name,
    'slmkit',
    'normalised to /package.json under the root, not above it',
  );
  assert.equal((await get('/model/..%2F..%2F..%2Fpackage.json')).status, 403);
  assert.equal((await get('/web%2F..%2F..%2F..%2Fetc%2Fpasswd')).status, 403);
  assert.equal((await get('/nope.txt')).status, 404);
  assert.equal((await get('/web/index.html', 'POST')).status, 405);
});

/**
 * The console's static routes on a real API server: the page and its files are served with the
 * right types and caching, anonymously; nothing outside the built directory can be reached;
 * an unknown file is a 404; the data still needs a token.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApi, type TestApi } from '../api/api-harness.test.js';
import { CONSOLE_CSP, consoleRoutes, loadConsoleFiles } from './console-routes.js';

/** A raw GET (fetch would normalise `..` away before it is sent). */
function rawGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('console routes', function () {
  let dir: string;
  let api: TestApi;

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'vigil-console-'));
    const stat = join(dir, 'static');
    mkdirSync(stat);
    writeFileSync(join(stat, 'index.html'), '<!doctype html><title>Vigil</title>');
    writeFileSync(join(stat, 'main.js'), 'export {};\n');
    writeFileSync(join(stat, 'console.css'), 'body{}\n');
    writeFileSync(join(stat, 'notes.txt'), 'not a console file type\n');
    writeFileSync(join(dir, 'secret.js'), 'outside the console directory\n');
    symlinkSync(join(dir, 'secret.js'), join(stat, 'linked.js'));
    mkdirSync(join(stat, 'sub.js'));
    api = await startTestApi({ routes: consoleRoutes({ dir: stat }) });
  });

  after(async function () {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('redirects / to the console', async function () {
    const res = await rawGet(api.port, '/');
    assert.equal(res.status, 302);
    assert.equal(res.headers['location'], '/console/');
  });

  it('serves the page at /console/ without a token, with a strict policy and revalidation', async function () {
    for (const path of ['/console/', '/console', '/console/index.html']) {
      const res = await rawGet(api.port, path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(res.headers['cache-control'], 'no-cache');
      assert.equal(res.headers['content-security-policy'], CONSOLE_CSP);
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.match(res.body, /<title>Vigil<\/title>/);
    }
  });

  it('serves scripts and styles with their types, and answers 304 to a matching ETag', async function () {
    const js = await rawGet(api.port, '/console/main.js');
    assert.equal(js.status, 200);
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['x-content-type-options'], 'nosniff');
    const etag = js.headers['etag'] as string;
    assert.match(etag, /^"[\w-]{22}"$/);
    const again = await rawGet(api.port, '/console/main.js', { 'if-none-match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    const css = await rawGet(api.port, '/console/console.css');
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    assert.notEqual(css.headers['etag'], etag);
  });

  it('never leaves the console directory', async function () {
    for (const path of [
      '/console/../secret.js',
      '/console/..%2Fsecret.js',
      '/console/%2e%2e%2fsecret.js',
      '/console/..%5Csecret.js',
      '/console/static%2F..%2F..%2Fsecret.js',
      '/console/linked.js',
      '/console/sub.js',
      '/console/notes.txt',
      '/console/%2Fetc%2Fpasswd',
      '/console/.%2E/.%2E/etc/passwd',
    ]) {
      const res = await rawGet(api.port, path);
      assert.ok(res.status === 404, `${path} answered ${res.status}`);
      assert.doesNotMatch(res.body, /outside the console|root:/, path);
    }
  });

  it('answers 404 with a JSON error for an unknown file', async function () {
    const res = await rawGet(api.port, '/console/nope.js');
    assert.equal(res.status, 404);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(res.body), {
      error: 'not_found',
      detail: "the console has no file 'nope.js'",
    });
  });

  it('keeps the data behind the token', async function () {
    assert.equal((await rawGet(api.port, '/api/v1/alerts')).status, 401);
    const ok = await rawGet(api.port, '/api/v1/alerts', { authorization: `Bearer ${api.token.viewer}` });
    assert.equal(ok.status, 200);
  });

  it('refuses to load a directory without a page, and answers 503 from a collector built without one', function () {
    assert.throws(() => loadConsoleFiles(join(dir, 'nothing')), /the console is not built: no index\.html/);
    const warnings: string[] = [];
    const routes = consoleRoutes({
      dir: join(dir, 'nothing'),
      logger: { warn: (msg: string) => warnings.push(msg) } as never,
    });
    assert.deepEqual(warnings, ['the console is not served']);
    const route = routes.find((r) => r.path === '/console');
    assert.ok(route !== undefined);
    assert.throws(() => route.handler({} as never), /not built/);
  });
});

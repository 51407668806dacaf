import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeKubeApiServer, type FakeKubeApiServer } from '../../../test/support/fake-kube-apiserver.js';
import { createKubeClient, KubeApiError, KubeTransportError, type KubeClient } from './kube-client.js';
import { KubeconfigError } from './kubeconfig.js';

const POD = {
  metadata: { name: 'web-0', namespace: 'shop', labels: { app: 'web' } },
  spec: { nodeName: 'node-a', containers: [{ name: 'web', image: 'nginx' }] },
};

interface PodLike {
  metadata: { name: string; uid: string };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('Kubernetes REST client', function () {
  let dir: string;
  const clients: KubeClient[] = [];
  const servers: { close(): unknown }[] = [];

  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'vigil-kube-client-'));
  });

  afterEach(async function () {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function track<T extends KubeClient>(c: T): T {
    clients.push(c);
    return c;
  }

  async function fake(tls: boolean): Promise<FakeKubeApiServer> {
    const api = await startFakeKubeApiServer({ tls });
    servers.push(api);
    api.addPod(POD);
    return api;
  }

  describe('url mode', function () {
    it('GETs JSON with the bearer token over http', async function () {
      const api = await fake(false);
      const kube = track(createKubeClient({ mode: 'url', server: api.url, token: api.token }));
      const pod = await kube.request<PodLike>({ method: 'GET', path: '/api/v1/namespaces/shop/pods/web-0' });
      assert.equal(pod.metadata.name, 'web-0');
      assert.equal(kube.server, api.url);
    });

    it('rejects with the API Status (code, reason, message, details)', async function () {
      const api = await fake(false);
      const kube = track(createKubeClient({ mode: 'url', server: api.url, token: api.token }));
      const err = await kube.request({ method: 'GET', path: '/api/v1/namespaces/shop/pods/nope' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof KubeApiError);
      assert.equal(err.code, 404);
      assert.equal(err.reason, 'NotFound');
      assert.equal(err.status.message, 'pods "nope" not found');
      assert.deepEqual(err.status.details, { name: 'nope', group: '', kind: 'pods' });
      assert.equal(err.message, 'GET /api/v1/namespaces/shop/pods/nope: 404 NotFound: pods "nope" not found');

      const anonymous = track(createKubeClient({ mode: 'url', server: api.url }));
      await assert.rejects(
        anonymous.request({ method: 'GET', path: '/api/v1/namespaces/shop/pods' }),
        (e: unknown) => e instanceof KubeApiError && e.code === 401 && e.reason === 'Unauthorized',
      );
    });

    it('sends JSON bodies with the given content type and query', async function () {
      const api = await fake(false);
      const kube = track(createKubeClient({ mode: 'url', server: api.url, token: api.token }));
      await kube.request({
        method: 'PATCH',
        path: '/api/v1/namespaces/shop/pods/web-0',
        query: { fieldManager: 'vigil', dryRun: undefined },
        contentType: 'application/merge-patch+json',
        body: { metadata: { labels: { tier: 'front' } } },
      });
      const req = api.requests().at(-1)!;
      assert.equal(req.query, 'fieldManager=vigil');
      assert.equal(req.contentType, 'application/merge-patch+json');
      assert.equal(api.getPod('shop', 'web-0')?.metadata.labels?.['tier'], 'front');
    });

    it('trusts the given CA over https, refuses an unknown one, or skips verification when told', async function () {
      const api = await fake(true);
      assert.ok(api.caPem !== undefined);
      const trusted = track(
        createKubeClient({ mode: 'url', server: api.url, token: api.token, caPem: api.caPem }),
      );
      assert.equal(
        (await trusted.request<PodLike>({ method: 'GET', path: '/api/v1/namespaces/shop/pods/web-0' }))
          .metadata.name,
        'web-0',
      );
      const untrusted = track(createKubeClient({ mode: 'url', server: api.url, token: api.token }));
      await assert.rejects(
        untrusted.request({ method: 'GET', path: '/api/v1/namespaces/shop/pods/web-0' }),
        (e: unknown) =>
          e instanceof KubeTransportError &&
          /cannot reach https:\/\/127\.0\.0\.1:\d+: .*certificate/.test(e.message),
      );
      const insecure = track(
        createKubeClient({ mode: 'url', server: api.url, token: api.token, insecureSkipTlsVerify: true }),
      );
      await insecure.request({ method: 'GET', path: '/version' });
    });

    it('times out a server that never answers, naming the limit', async function () {
      const sockets: Socket[] = [];
      const silent = createServer(() => undefined);
      silent.on('connection', (s) => sockets.push(s));
      const url = await listen(silent);
      servers.push({
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            silent.close(r);
          }),
      });
      const kube = track(createKubeClient({ mode: 'url', server: url }, { timeoutMs: 150 }));
      const started = Date.now();
      await assert.rejects(
        kube.request({ method: 'GET', path: '/api' }),
        (e: unknown) =>
          e instanceof KubeTransportError && /GET \/api: no answer from .* within 150 ms/.test(e.message),
      );
      assert.ok(Date.now() - started < 2000);
    });

    it('keeps a non-Status error body as the message, and honours a path prefix', async function () {
      const paths: string[] = [];
      const proxy = createServer((req, res) => {
        paths.push(req.url ?? '');
        res.writeHead(502, 'Bad Gateway', { 'content-type': 'text/plain' });
        res.end('upstream connect error\n');
      });
      const url = await listen(proxy);
      servers.push({ close: () => new Promise((r) => proxy.close(r)) });
      const kube = track(createKubeClient({ mode: 'url', server: `${url}/k8s/clusters/c-1/` }));
      assert.equal(kube.server, `${url}/k8s/clusters/c-1`);
      await assert.rejects(
        kube.request({
          method: 'GET',
          path: '/api/v1/namespaces/shop/pods',
          query: { labelSelector: 'a=b' },
        }),
        (e: unknown) =>
          e instanceof KubeApiError &&
          e.code === 502 &&
          e.reason === 'Bad Gateway' &&
          e.status.message === 'upstream connect error',
      );
      assert.deepEqual(paths, ['/k8s/clusters/c-1/api/v1/namespaces/shop/pods?labelSelector=a%3Db']);
    });

    it('refuses a bad server URL at creation', function () {
      assert.throws(
        () => createKubeClient({ mode: 'url', server: 'kubernetes:443' }),
        /server: "kubernetes:443" must be an http or https URL/,
      );
      assert.throws(
        () => createKubeClient({ mode: 'url', server: 'not a url' }),
        /server: "not a url" is not a URL/,
      );
    });
  });

  describe('in-cluster mode', function () {
    function serviceAccount(api: FakeKubeApiServer, token: string): string {
      const sa = join(dir, 'serviceaccount');
      rmSync(sa, { recursive: true, force: true });
      mkdirSync(sa, { recursive: true });
      writeFileSync(join(sa, 'ca.crt'), api.caPem ?? '');
      writeFileSync(join(sa, 'token'), `${token}\n`);
      writeFileSync(join(sa, 'namespace'), 'vigil');
      return sa;
    }

    function env(api: FakeKubeApiServer): Record<string, string> {
      const u = new URL(api.url);
      return { KUBERNETES_SERVICE_HOST: u.hostname, KUBERNETES_SERVICE_PORT: u.port };
    }

    it('uses the service account token and CA, and follows a rotated token after a 401', async function () {
      const api = await fake(true);
      const sa = serviceAccount(api, api.token);
      const kube = track(createKubeClient({ mode: 'in-cluster', serviceAccountDir: sa }, { env: env(api) }));
      assert.match(kube.server, /^https:\/\/127\.0\.0\.1:\d+$/);
      await kube.request({ method: 'GET', path: '/api/v1/namespaces/shop/pods/web-0' });

      // The kubelet rotates the projected token; the API server stops accepting the old one.
      api.setToken('rotated-token-2');
      writeFileSync(join(sa, 'token'), 'rotated-token-2\n');
      utimesSync(join(sa, 'token'), new Date(), new Date(Date.now() + 5000));
      api.clearRequests();
      const pod = await kube.request<PodLike>({ method: 'GET', path: '/api/v1/namespaces/shop/pods/web-0' });
      assert.equal(pod.metadata.name, 'web-0');
      assert.deepEqual(
        api.requests().map((r) => r.status),
        [401, 200],
        'one refusal with the old token, then the re-read token',
      );

      // A token that stays wrong after re-reading is an error, not a loop.
      api.setToken('rotated-token-3');
      await assert.rejects(
        kube.request({ method: 'GET', path: '/api/v1/namespaces/shop/pods/web-0' }),
        /401 Unauthorized/,
      );
    });

    it('re-reads the token file after the refresh interval, before the API refuses it', async function () {
      const api = await fake(true);
      const sa = serviceAccount(api, api.token);
      const kube = track(
        createKubeClient({ mode: 'in-cluster', serviceAccountDir: sa }, { env: env(api), tokenRefreshMs: 0 }),
      );
      await kube.request({ method: 'GET', path: '/api' });
      api.setToken('next-token');
      writeFileSync(join(sa, 'token'), 'next-token');
      utimesSync(join(sa, 'token'), new Date(), new Date(Date.now() + 10_000));
      api.clearRequests();
      await kube.request({ method: 'GET', path: '/api' });
      assert.deepEqual(
        api.requests().map((r) => r.status),
        [200],
      );
    });

    it('says what is missing outside a pod or without the service account files', async function () {
      const api = await fake(true);
      assert.throws(
        () => createKubeClient({ mode: 'in-cluster', serviceAccountDir: dir }, { env: {} }),
        /in-cluster mode needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT/,
      );
      assert.throws(
        () =>
          createKubeClient(
            { mode: 'in-cluster', serviceAccountDir: join(dir, 'nowhere') },
            { env: env(api) },
          ),
        new RegExp(`cannot read the cluster CA ${join(dir, 'nowhere', 'ca.crt')}`),
      );
      const sa = serviceAccount(api, 'x');
      rmSync(join(sa, 'token'));
      assert.throws(
        () => createKubeClient({ mode: 'in-cluster', serviceAccountDir: sa }, { env: env(api) }),
        new RegExp(`cannot read the service account token ${join(sa, 'token')}`),
      );
      writeFileSync(join(sa, 'token'), '  \n');
      assert.throws(
        () => createKubeClient({ mode: 'in-cluster', serviceAccountDir: sa }, { env: env(api) }),
        /the service account token .* is empty/,
      );
    });
  });

  describe('kubeconfig mode', function () {
    it('authenticates with a client certificate from files, trusting the CA file (paths relative to the kubeconfig)', async function () {
      const api = await fake(true);
      const client = api.issueClientCertificate('vigil-collector');
      writeFileSync(join(dir, 'ca.pem'), api.caPem ?? '');
      writeFileSync(join(dir, 'client.pem'), client.certPem);
      writeFileSync(join(dir, 'client-key.pem'), client.keyPem);
      const path = join(dir, 'config');
      writeFileSync(
        path,
        [
          'apiVersion: v1',
          'kind: Config',
          'current-context: other',
          'clusters:',
          '- name: fake',
          `  cluster: { server: "${api.url}", certificate-authority: ca.pem }`,
          '- name: elsewhere',
          '  cluster: { server: "https://192.0.2.1:6443" }',
          'users:',
          '- name: collector',
          '  user: { client-certificate: client.pem, client-key: client-key.pem }',
          'contexts:',
          '- name: other',
          '  context: { cluster: elsewhere, user: collector }',
          '- name: fake-ctx',
          '  context: { cluster: fake, user: collector, namespace: shop }',
          '',
        ].join('\n'),
      );
      const kube = track(createKubeClient({ mode: 'kubeconfig', path, context: 'fake-ctx' }));
      const pod = await kube.request<PodLike>({ method: 'GET', path: '/api/v1/namespaces/shop/pods/web-0' });
      assert.equal(pod.metadata.name, 'web-0');
      // No bearer token was sent: the certificate alone authenticated.
      api.setToken('something-else');
      await kube.request({ method: 'GET', path: '/api/v1/namespaces/shop/pods/web-0' });
    });

    it('sends an inline token and inline CA data', async function () {
      const api = await fake(true);
      const path = join(dir, 'config');
      writeFileSync(
        path,
        [
          'current-context: c',
          'clusters:',
          `- name: k\n  cluster:\n    server: ${api.url}\n    certificate-authority-data: ${Buffer.from(api.caPem ?? '').toString('base64')}`,
          `users:\n- name: u\n  user:\n    token: ${api.token}`,
          'contexts:\n- name: c\n  context: { cluster: k, user: u }',
          '',
        ].join('\n'),
      );
      const kube = track(createKubeClient({ mode: 'kubeconfig', path }));
      await kube.request({ method: 'GET', path: '/api/v1/namespaces/shop/pods' });
    });

    it('fails at creation with a KubeconfigError naming the file and key', function () {
      const path = join(dir, 'config');
      writeFileSync(
        path,
        'current-context: c\ncontexts:\n- name: c\n  context: { cluster: k }\nclusters:\n- name: k\n  cluster: {}\n',
      );
      assert.throws(
        () => createKubeClient({ mode: 'kubeconfig', path }),
        (e: unknown) =>
          e instanceof KubeconfigError &&
          e.message === `kubeconfig ${path}: clusters[0].cluster ("k").server: missing`,
      );
      assert.throws(
        () => createKubeClient({ mode: 'kubeconfig', path: join(dir, 'absent') }),
        new RegExp(`cannot read kubeconfig ${join(dir, 'absent')}: ENOENT`),
      );
    });
  });
});

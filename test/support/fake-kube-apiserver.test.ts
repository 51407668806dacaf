/**
 * The fake API server against the real kubectl (v1.32, from the dev dependency) and against the
 * protocol details kubectl does not exercise. If kubectl accepts it, the fake speaks the protocol
 * closely enough for the collector's own client to be tested against it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeKubeApiServer, type FakeKubeApiServer } from './fake-kube-apiserver.js';
import { kubectlBinary } from './k8s-tools.js';

const NS = 'shop';

function pod(name: string, labels: Record<string, string> = { app: 'web' }): object {
  return {
    metadata: { name, namespace: NS, labels },
    spec: { nodeName: 'node-a', containers: [{ name: 'web', image: 'nginx:1.27' }] },
    status: {
      phase: 'Running',
      podIP: '10.1.0.9',
      containerStatuses: [{ name: 'web', ready: true, restartCount: 2, image: 'nginx:1.27', imageID: '' }],
    },
  };
}

const POLICY_YAML = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: vigil-quarantine
  namespace: ${NS}
spec:
  podSelector:
    matchExpressions:
      - key: vigil.dev/quarantine
        operator: Exists
  policyTypes: [Ingress, Egress]
`;

/** Missing podSelector (required) and policyTypes a string instead of a list. */
const INVALID_POLICY_YAML = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: broken
  namespace: ${NS}
spec:
  policyTypes: Ingress
`;

/** The fields of API answers the protocol tests read. */
interface Answer {
  kind?: string;
  status?: string;
  reason?: string;
  message?: string;
  code?: number;
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    continue?: string;
    remainingItemCount?: number;
  };
  details?: { causes?: { field: string }[] };
  items?: Answer[];
  versions?: string[];
  groups?: { preferredVersion: { groupVersion: string } }[];
  resources?: { verbs: string[] }[];
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('fake Kubernetes API server', function () {
  this.timeout(60_000);
  let dir: string;
  let kubectl: string;

  before(function () {
    kubectl = kubectlBinary();
  });

  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'vigil-fake-kube-'));
  });

  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs kubectl against `api` with no kubeconfig of the user's and a private discovery cache. */
  function run(api: FakeKubeApiServer, args: string[], token = api.token): Promise<Run> {
    const argv = [
      '--server',
      api.url,
      '--token',
      token,
      '--insecure-skip-tls-verify',
      '--cache-dir',
      join(dir, 'cache'),
    ];
    return new Promise((resolve) => {
      execFile(
        kubectl,
        [...argv, ...args],
        {
          env: { PATH: process.env['PATH'] ?? '', HOME: dir, KUBECONFIG: join(dir, 'no-kubeconfig') },
          timeout: 30_000,
        },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  function ok(r: Run): string {
    assert.equal(r.code, 0, `kubectl failed: ${r.stderr}`);
    return r.stdout;
  }

  describe('with kubectl', function () {
    let api: FakeKubeApiServer;

    beforeEach(async function () {
      api = await startFakeKubeApiServer({ tls: true });
      api.addPod(pod('web-a'));
      api.addPod(pod('web-b'));
    });

    afterEach(async function () {
      await api.close();
    });

    it('kubectl get pods -o json lists the pods', async function () {
      const list = JSON.parse(ok(await run(api, ['get', 'pods', '-n', NS, '-o', 'json']))) as {
        kind: string;
        items: { metadata: { name: string; uid: string } }[];
      };
      assert.equal(list.kind, 'List');
      assert.deepEqual(
        list.items.map((p) => p.metadata.name),
        ['web-a', 'web-b'],
      );
      assert.equal(list.items[0]?.metadata.uid, api.getPod(NS, 'web-a')?.metadata.uid);
      // kubectl fell back from aggregated discovery to the legacy documents.
      const paths = api.requests().map((r) => `${r.method} ${r.path} ${r.status}`);
      for (const p of [
        'GET /api 200',
        'GET /apis 200',
        'GET /api/v1 200',
        'GET /api/v1/namespaces/shop/pods 200',
      ]) {
        assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
      }
    });

    it('kubectl get pods prints the Table the server sends (wide, labels, all namespaces)', async function () {
      const table = ok(await run(api, ['get', 'pods', '-n', NS]));
      const lines = table.trim().split('\n');
      assert.match(lines[0]!, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
      assert.match(lines[1]!, /^web-a\s+1\/1\s+Running\s+2\s+\d+s$/);
      assert.equal(lines.length, 3);
      const tableRequest = api.requests().find((r) => r.path === '/api/v1/namespaces/shop/pods');
      assert.match(tableRequest?.accept ?? '', /as=Table;v=v1;g=meta\.k8s\.io/);

      const wide = ok(await run(api, ['get', 'pods', '-n', NS, '-o', 'wide', '--show-labels']));
      assert.match(wide, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+LABELS\n/);
      assert.match(wide, /web-b\s+1\/1\s+Running\s+2\s+\d+s\s+10\.1\.0\.9\s+node-a\s+app=web\n/);

      const all = ok(await run(api, ['get', 'pods', '-A']));
      assert.match(all, /^NAMESPACE\s+NAME\s+READY/);
      assert.match(all, /\nshop\s+web-a\s+/);
    });

    it('kubectl get pods falls back to plain JSON when the server sends no Table', async function () {
      const plain = await startFakeKubeApiServer({ tls: true, tables: false });
      try {
        plain.addPod(pod('web-a'));
        const out = ok(await run(plain, ['get', 'pods', '-n', NS]));
        assert.match(out, /^NAME\s+/);
        assert.match(out, /\nweb-a\s/);
        assert.ok(
          plain.requests().some((r) => r.path === '/api/v1/namespaces/shop/pods' && r.status === 200),
        );
      } finally {
        await plain.close();
      }
    });

    it('kubectl get with label selectors (exists, !key, =, !=, in)', async function () {
      api.updatePod(NS, 'web-a', (p) => {
        p.metadata.labels = { ...p.metadata.labels, 'vigil.dev/quarantine': 'q-1' };
      });
      const names = async (selector: string): Promise<string> =>
        ok(await run(api, ['get', 'pods', '-n', NS, '-l', selector, '-o', 'name'])).trim();
      assert.equal(await names('vigil.dev/quarantine'), 'pod/web-a');
      assert.equal(await names('!vigil.dev/quarantine'), 'pod/web-b');
      assert.equal(await names('vigil.dev/quarantine=q-1'), 'pod/web-a');
      assert.equal(await names('vigil.dev/quarantine!=q-1'), 'pod/web-b');
      assert.equal(await names('vigil.dev/quarantine in (q-1,q-2)'), 'pod/web-a');
      assert.equal(await names('app=web,vigil.dev/quarantine notin (q-1)'), 'pod/web-b');
    });

    it('kubectl label sets and removes a label with a merge patch; a stale --resource-version conflicts', async function () {
      assert.match(
        ok(await run(api, ['label', 'pod', 'web-a', '-n', NS, 'vigil.dev/quarantine=q-7'])),
        /pod\/web-a labeled/,
      );
      assert.equal(api.getPod(NS, 'web-a')?.metadata.labels?.['vigil.dev/quarantine'], 'q-7');
      assert.equal(api.getPod(NS, 'web-b')?.metadata.labels?.['vigil.dev/quarantine'], undefined);
      const patch = api.requests().find((r) => r.method === 'PATCH');
      assert.equal(patch?.contentType, 'application/merge-patch+json');

      const stale = await run(api, [
        'label',
        'pod',
        'web-a',
        '-n',
        NS,
        'vigil.dev/quarantine=q-8',
        '--overwrite',
        '--resource-version=1',
      ]);
      assert.notEqual(stale.code, 0);
      assert.match(
        stale.stderr,
        /Error from server \(Conflict\): Operation cannot be fulfilled on pods "web-a": the object has been modified/,
      );

      const invalid = await run(api, ['label', 'pod', 'web-a', '-n', NS, 'bad key=x']);
      assert.notEqual(invalid.code, 0);
      assert.match(invalid.stderr, /The Pod "web-a" is invalid: metadata\.labels: Invalid value: "bad key"/);

      ok(await run(api, ['annotate', 'pod', 'web-a', '-n', NS, 'vigil.dev/quarantine-reason=reverse shell']));
      assert.match(
        ok(await run(api, ['label', 'pod', 'web-a', '-n', NS, 'vigil.dev/quarantine-'])),
        /unlabeled/,
      );
      const after = api.getPod(NS, 'web-a');
      assert.equal(after?.metadata.labels?.['vigil.dev/quarantine'], undefined);
      assert.equal(after?.metadata.annotations?.['vigil.dev/quarantine-reason'], 'reverse shell');
    });

    it('kubectl create -f: a valid policy is created, a duplicate is AlreadyExists, an invalid one fails with the validation message', async function () {
      writeFileSync(join(dir, 'policy.yaml'), POLICY_YAML);
      writeFileSync(join(dir, 'invalid.yaml'), INVALID_POLICY_YAML);
      assert.match(
        ok(await run(api, ['create', '-f', join(dir, 'policy.yaml')])),
        /networkpolicy\.networking\.k8s\.io\/vigil-quarantine created/,
      );
      const [stored] = api.networkPolicies(NS);
      assert.deepEqual(stored?.spec, {
        podSelector: { matchExpressions: [{ key: 'vigil.dev/quarantine', operator: 'Exists' }] },
        policyTypes: ['Ingress', 'Egress'],
      });
      // kubectl's default --validate=strict found fieldValidation in the OpenAPI v3 document.
      const create = api.requests().find((r) => r.method === 'POST');
      assert.match(create?.query ?? '', /fieldValidation=Strict/);

      const dup = await run(api, ['create', '-f', join(dir, 'policy.yaml')]);
      assert.notEqual(dup.code, 0);
      assert.match(
        dup.stderr,
        /Error from server \(AlreadyExists\): .*networkpolicies\.networking\.k8s\.io "vigil-quarantine" already exists/,
      );

      const bad = await run(api, ['create', '-f', join(dir, 'invalid.yaml')]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /The NetworkPolicy "broken" is invalid/);
      assert.match(
        bad.stderr,
        /spec: must have required property 'podSelector'|spec: must have required property podSelector/,
      );
      assert.match(bad.stderr, /spec\.policyTypes: must be array/);
      assert.equal(api.networkPolicies(NS).length, 1);

      writeFileSync(
        join(dir, 'typo.yaml'),
        POLICY_YAML.replace('name: vigil-quarantine', 'name: typo') + '  podSelectr: {}\n',
      );
      const typo = await run(api, ['create', '-f', join(dir, 'typo.yaml')]);
      assert.notEqual(typo.code, 0);
      assert.match(typo.stderr, /strict decoding error: unknown field "spec\.podSelectr"/);
    });

    it('kubectl get networkpolicies, then kubectl delete networkpolicy', async function () {
      writeFileSync(join(dir, 'policy.yaml'), POLICY_YAML);
      ok(await run(api, ['create', '-f', join(dir, 'policy.yaml')]));
      const table = ok(await run(api, ['get', 'networkpolicies', '-n', NS]));
      assert.match(table, /^NAME\s+POD-SELECTOR\s+AGE\nvigil-quarantine\s+vigil\.dev\/quarantine\s+\d+s\n$/);
      const short = ok(await run(api, ['get', 'netpol', '-A', '-o', 'name']));
      assert.equal(short, 'networkpolicy.networking.k8s.io/vigil-quarantine\n');

      assert.match(
        ok(await run(api, ['delete', 'networkpolicy', 'vigil-quarantine', '-n', NS])),
        /networkpolicy\.networking\.k8s\.io "vigil-quarantine" deleted/,
      );
      assert.equal(api.networkPolicies(NS).length, 0);
      const again = await run(api, ['delete', 'networkpolicy', 'vigil-quarantine', '-n', NS]);
      assert.notEqual(again.code, 0);
      assert.match(
        again.stderr,
        /Error from server \(NotFound\): networkpolicies\.networking\.k8s\.io "vigil-quarantine" not found/,
      );
    });

    it('kubectl api-resources lists what the fake serves, with verbs and short names', async function () {
      const out = ok(await run(api, ['api-resources', '-o', 'wide']));
      assert.match(out, /\npods\s+po\s+v1\s+true\s+Pod\s+get,list,patch\s+all\n/);
      assert.match(
        out,
        /\nnetworkpolicies\s+netpol\s+networking\.k8s\.io\/v1\s+true\s+NetworkPolicy\s+create,delete,get,list,patch\s*\n/,
      );
    });

    it('kubectl is refused with a wrong token', async function () {
      const r = await run(api, ['get', 'pods', '-n', NS], 'wrong-token');
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /error: You must be logged in to the server/);
    });
  });

  it('without OpenAPI (404): kubectl get proceeds; kubectl create needs --validate=false', async function () {
    const api = await startFakeKubeApiServer({ tls: true, openapi: false });
    try {
      api.addPod(pod('web-a'));
      assert.match(ok(await run(api, ['get', 'pods', '-n', NS])), /\nweb-a\s/);
      writeFileSync(join(dir, 'policy.yaml'), POLICY_YAML);
      const strict = await run(api, ['create', '-f', join(dir, 'policy.yaml')]);
      assert.notEqual(strict.code, 0);
      assert.match(strict.stderr, /failed to download openapi/);
      assert.ok(api.requests().some((r) => r.path === '/openapi/v3' && r.status === 404));
      assert.ok(api.requests().some((r) => r.path === '/openapi/v2' && r.status === 404));
      assert.match(
        ok(await run(api, ['create', '--validate=false', '-f', join(dir, 'policy.yaml')])),
        /created/,
      );
      // Server-side validation still applies.
      writeFileSync(join(dir, 'invalid.yaml'), INVALID_POLICY_YAML);
      const bad = await run(api, ['create', '--validate=false', '-f', join(dir, 'invalid.yaml')]);
      assert.match(bad.stderr, /The NetworkPolicy "broken" is invalid/);
    } finally {
      await api.close();
    }
  });

  describe('protocol details', function () {
    let api: FakeKubeApiServer;

    beforeEach(async function () {
      api = await startFakeKubeApiServer();
      api.addPod(pod('web-a'));
      api.addPod(pod('web-b', { app: 'web', tier: 'front' }));
      api.addPod(pod('db-0', { app: 'db' }));
    });

    afterEach(async function () {
      await api.close();
    });

    async function call(
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ): Promise<{ status: number; body: Answer; headers: Headers }> {
      const res = await fetch(api.url + path, {
        method,
        headers: {
          authorization: `Bearer ${api.token}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Answer, headers: res.headers };
    }

    const names = (list: Answer): string[] => (list.items ?? []).map((i) => i.metadata.name ?? '');

    it('answers errors as Status objects', async function () {
      const missing = await call('GET', `/api/v1/namespaces/${NS}/pods/nope`);
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.body, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'pods "nope" not found',
        reason: 'NotFound',
        details: { name: 'nope', group: '', kind: 'pods' },
        code: 404,
      });
      const res = await fetch(`${api.url}/api/v1/namespaces/${NS}/pods`);
      assert.equal(res.status, 401);
      assert.deepEqual(await res.json(), {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      });
      const unknown = await call('GET', '/apis/apps/v1/namespaces/shop/deployments');
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.reason, 'NotFound');
      const notAllowed = await call('DELETE', `/api/v1/namespaces/${NS}/pods/web-a`);
      assert.equal(notAllowed.status, 405);
      assert.equal(notAllowed.body.reason, 'MethodNotAllowed');
    });

    it('serves discovery documents', async function () {
      assert.deepEqual((await call('GET', '/api')).body.versions, ['v1']);
      const groups = (await call('GET', '/apis')).body;
      assert.equal(groups.kind, 'APIGroupList');
      assert.equal(groups.groups?.[0]?.preferredVersion.groupVersion, 'networking.k8s.io/v1');
      const v1 = (await call('GET', '/api/v1')).body;
      assert.equal(v1['kind'], 'APIResourceList');
      assert.deepEqual(v1.resources?.[0]?.verbs, ['get', 'list', 'patch']);
      assert.equal((await call('GET', '/apis/networking.k8s.io')).body.kind, 'APIGroup');
      const version = await fetch(`${api.url}/version`);
      assert.equal(((await version.json()) as { major: string }).major, '1');
    });

    it('filters lists by label and field selectors, and pages with limit/continue', async function () {
      const list = async (query: string): Promise<Answer> =>
        (await call('GET', `/api/v1/namespaces/${NS}/pods?${query}`)).body;
      assert.deepEqual(names(await list('labelSelector=app%3Dweb')), ['web-a', 'web-b']);
      assert.deepEqual(names(await list('labelSelector=app!%3Dweb')), ['db-0']);
      assert.deepEqual(names(await list('labelSelector=tier')), ['web-b']);
      assert.deepEqual(names(await list('labelSelector=!tier')), ['db-0', 'web-a']);
      assert.deepEqual(names(await list('labelSelector=app%3D%3Dweb,!tier')), ['web-a']);
      assert.deepEqual(names(await list('fieldSelector=metadata.name%3Dweb-b')), ['web-b']);
      assert.deepEqual(names(await list('fieldSelector=metadata.name!%3Dweb-b')), ['db-0', 'web-a']);
      const bad = await call('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=app%3D%3D%3Dx`);
      assert.equal(bad.status, 400);
      assert.match(bad.body.message ?? '', /unable to parse requirement/);
      const badField = await call('GET', `/api/v1/namespaces/${NS}/pods?fieldSelector=spec.nodeName%3Dx`);
      assert.equal(badField.body.message, 'field label not supported: spec.nodeName');

      const first = await list('limit=2');
      assert.deepEqual(names(first), ['db-0', 'web-a']);
      assert.equal(first.metadata.remainingItemCount, 1);
      const second = await list(`limit=2&continue=${first.metadata.continue as string}`);
      assert.deepEqual(names(second), ['web-b']);
      assert.equal(second.metadata.continue, undefined);
      assert.equal((await call('GET', '/api/v1/pods')).body.items?.length, 3);
    });

    it('applies merge patches, bumps resourceVersion, and refuses stale preconditions with 409', async function () {
      const path = `/api/v1/namespaces/${NS}/pods/web-a`;
      const before = (await call('GET', path)).body;
      const merge = { 'content-type': 'application/merge-patch+json' };
      const patched = await call('PATCH', path, { metadata: { labels: { x: '1' } } }, merge);
      assert.equal(patched.status, 200);
      assert.deepEqual(patched.body.metadata.labels, { app: 'web', x: '1' });
      assert.ok(Number(patched.body.metadata.resourceVersion) > Number(before.metadata.resourceVersion));

      const stale = await call(
        'PATCH',
        path,
        { metadata: { resourceVersion: before.metadata.resourceVersion, labels: { y: '2' } } },
        merge,
      );
      assert.equal(stale.status, 409);
      assert.equal(stale.body.reason, 'Conflict');
      const fresh = await call(
        'PATCH',
        path,
        { metadata: { resourceVersion: patched.body.metadata.resourceVersion, labels: { x: null } } },
        merge,
      );
      assert.equal(fresh.status, 200);
      assert.deepEqual(fresh.body.metadata.labels, { app: 'web' });

      // A no-op patch keeps the version; an invalid label value is a 422 with causes.
      const noop = await call('PATCH', path, { metadata: { labels: { app: 'web' } } }, merge);
      assert.equal(noop.body.metadata.resourceVersion, fresh.body.metadata.resourceVersion);
      const invalid = await call('PATCH', path, { metadata: { labels: { x: 'not valid!' } } }, merge);
      assert.equal(invalid.status, 422);
      assert.equal(invalid.body.reason, 'Invalid');
      assert.equal(invalid.body.details?.causes?.[0]?.field, 'metadata.labels');
      const schema = await call('PATCH', path, { metadata: { labels: { x: 5 } } }, merge);
      assert.equal(schema.status, 422);
      assert.match(schema.body.message ?? '', /metadata\.labels\.x: must be string/);

      const jsonPatch = await call('PATCH', path, [{ op: 'remove', path: '/metadata/labels/app' }], {
        'content-type': 'application/json-patch+json',
      });
      assert.equal(jsonPatch.status, 415);
      const plain = await call('PATCH', path, { metadata: {} });
      assert.equal(plain.status, 415);
    });

    it('creates, conflicts, validates and deletes NetworkPolicies; honours dryRun and delete preconditions', async function () {
      const base = `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`;
      const policy = {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'p' },
        spec: { podSelector: {}, policyTypes: ['Ingress'] },
      };
      const dry = await call('POST', `${base}?dryRun=All`, policy);
      assert.equal(dry.status, 201);
      assert.equal(api.networkPolicies(NS).length, 0);
      const created = await call('POST', base, policy);
      assert.equal(created.status, 201);
      assert.equal(created.body.metadata.namespace, NS);
      assert.match(created.body.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
      const dup = await call('POST', base, policy);
      assert.equal(dup.status, 409);
      assert.equal(dup.body.reason, 'AlreadyExists');
      const wrongNs = await call('POST', base, { ...policy, metadata: { name: 'q', namespace: 'other' } });
      assert.equal(wrongNs.status, 400);
      const wrongKind = await call('POST', base, { ...policy, kind: 'Pod' });
      assert.equal(wrongKind.status, 400);
      const invalid = await call('POST', base, { ...policy, metadata: { name: 'Bad_Name' }, spec: {} });
      assert.equal(invalid.status, 422);
      assert.match(invalid.body.message ?? '', /spec: must have required property/);
      assert.match(invalid.body.message ?? '', /metadata\.name: Invalid value: "Bad_Name"/);

      const listed = await call('GET', base);
      assert.equal(listed.body.kind, 'NetworkPolicyList');
      assert.deepEqual(names(listed.body), ['p']);

      const preconditionFailed = await call('DELETE', `${base}/p`, {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        preconditions: { uid: 'someone-else' },
      });
      assert.equal(preconditionFailed.status, 409);
      const deleted = await call('DELETE', `${base}/p`, {
        preconditions: { uid: created.body.metadata.uid },
      });
      assert.equal(deleted.status, 200);
      assert.equal(deleted.body.status, 'Success');
      assert.equal((await call('DELETE', `${base}/p`)).status, 404);
    });

    it('injects one-off failures and records requests', async function () {
      api.failNext('GET', '/api/v1/namespaces/shop/pods/web-a', 500, 'etcd is down');
      const failed = await call('GET', '/api/v1/namespaces/shop/pods/web-a');
      assert.equal(failed.status, 500);
      assert.equal(failed.body.message, 'etcd is down');
      assert.equal(failed.body.reason, 'InternalError');
      assert.equal((await call('GET', '/api/v1/namespaces/shop/pods/web-a')).status, 200);
      assert.deepEqual(
        api.requests().map((r) => [r.method, r.path, r.status]),
        [
          ['GET', '/api/v1/namespaces/shop/pods/web-a', 500],
          ['GET', '/api/v1/namespaces/shop/pods/web-a', 200],
        ],
      );
    });

    it('refuses invalid objects given to addPod', function () {
      assert.throws(
        () =>
          api.addPod({ metadata: { name: 'x', namespace: NS }, spec: { containers: [{ image: 'nginx' }] } }),
        /cannot add Pod: Pod "x" is invalid: spec\.containers\.0: must have required property 'name'|cannot add Pod: .*spec\.containers\.0/,
      );
    });
  });
});

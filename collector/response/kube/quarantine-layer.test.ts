import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { startFakeKubeApiServer, type FakeKubeApiServer } from '../../../test/support/fake-kube-apiserver.js';
import { kubectlBinary } from '../../../test/support/k8s-tools.js';
import { createKubeClient, type KubeClient } from './kube-client.js';
import {
  createKubeQuarantineLayer,
  MAX_CONFLICT_RETRIES,
  MAX_REASON_ANNOTATION_CHARS,
  QUARANTINE_LABEL,
  QUARANTINE_POLICY_NAME,
  QUARANTINE_REASON_ANNOTATION,
  type KubeQuarantineLayer,
} from './quarantine-layer.js';

const NS = 'shop';
const POLICY_PATH = `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/${QUARANTINE_POLICY_NAME}`;
const podPath = (name: string, ns = NS): string => `/api/v1/namespaces/${ns}/pods/${name}`;

/** A pod of ReplicaSet web-7d4b9 (siblings share labels and owner), as a controller makes them. */
function replicaPod(name: string, node = 'node-a', ns = NS): object {
  return {
    metadata: {
      name,
      namespace: ns,
      labels: { app: 'web', 'pod-template-hash': '7d4b9' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'web-7d4b9',
          uid: '5b0f4c9e-1a2b-4c3d-8e9f-0a1b2c3d4e5f',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: { nodeName: node, containers: [{ name: 'web', image: 'nginx:1.27' }] },
    status: { phase: 'Running', podIP: '10.1.0.7' },
  };
}

function labelsOf(api: FakeKubeApiServer, name: string, ns = NS): Record<string, string> {
  return api.getPod(ns, name)?.metadata.labels ?? {};
}

/** Whether the policy's podSelector picks a pod with `labels` (the subset this layer uses). */
function selects(policy: { spec?: Record<string, unknown> }, labels: Record<string, string>): boolean {
  const sel = policy.spec?.['podSelector'] as {
    matchLabels?: Record<string, string>;
    matchExpressions?: { key: string; operator: string }[];
  };
  const byLabels = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExprs = (sel.matchExpressions ?? []).every((e) => {
    assert.ok(e.operator === 'Exists', `unexpected operator ${e.operator}`);
    return labels[e.key] !== undefined;
  });
  return byLabels && byExprs;
}

describe('Kubernetes quarantine layer (against the fake API server)', function () {
  let api: FakeKubeApiServer;
  let client: KubeClient;
  let layer: KubeQuarantineLayer;

  beforeEach(async function () {
    api = await startFakeKubeApiServer();
    for (const n of ['web-7d4b9-aaaaa', 'web-7d4b9-bbbbb', 'web-7d4b9-ccccc']) api.addPod(replicaPod(n));
    api.addPod(replicaPod('web-7d4b9-zzzzz', 'node-b', 'other'));
    client = createKubeClient({ mode: 'url', server: api.url, token: api.token }, { timeoutMs: 5000 });
    layer = createKubeQuarantineLayer(client);
  });

  afterEach(async function () {
    client.close();
    await api.close();
  });

  it('labels only the target pod and creates one deny-all policy that selects only it', async function () {
    const siblingBefore = api.getPod(NS, 'web-7d4b9-bbbbb');
    const r = await layer.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-0001',
      reason: 'reverse shell',
    });
    assert.equal(r.outcome, 'applied', r.detail);
    assert.match(r.detail, /labelled pod shop\/web-7d4b9-aaaaa vigil\.dev\/quarantine=q-0001/);
    assert.match(r.detail, /created/);
    assert.equal(labelsOf(api, 'web-7d4b9-aaaaa')[QUARANTINE_LABEL], 'q-0001');
    assert.equal(labelsOf(api, 'web-7d4b9-aaaaa')['app'], 'web', 'other labels are kept');
    // The siblings of the same ReplicaSet are not touched at all (same resourceVersion).
    assert.deepEqual(api.getPod(NS, 'web-7d4b9-bbbbb'), siblingBefore);

    const policies = api.networkPolicies(NS);
    assert.equal(policies.length, 1);
    const policy = policies[0]!;
    assert.equal(policy.metadata.name, QUARANTINE_POLICY_NAME);
    assert.deepEqual(policy.spec, {
      podSelector: { matchExpressions: [{ key: QUARANTINE_LABEL, operator: 'Exists' }] },
      policyTypes: ['Ingress', 'Egress'],
    });
    new NetworkPolicy(structuredClone(policy) as never).validate(); // the official schema
    assert.equal(selects(policy, labelsOf(api, 'web-7d4b9-aaaaa')), true);
    assert.equal(selects(policy, labelsOf(api, 'web-7d4b9-bbbbb')), false);
    assert.equal(selects(policy, labelsOf(api, 'web-7d4b9-ccccc')), false);
    assert.equal(api.networkPolicies('other').length, 0);

    // The label went on as a merge patch with the resourceVersion just read as precondition.
    const patch = api.requests().find((q) => q.method === 'PATCH');
    assert.equal(patch?.contentType, 'application/merge-patch+json');
    const body = patch?.body as { metadata: { resourceVersion: string; labels: Record<string, string> } };
    assert.deepEqual(body.metadata.labels, { [QUARANTINE_LABEL]: 'q-0001' });
    assert.match(body.metadata.resourceVersion, /^\d+$/);
  });

  it('shares the policy between quarantines in a namespace and deletes it after the last release', async function () {
    assert.equal(
      (await layer.quarantine({ namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-1', reason: 'a' }))
        .outcome,
      'applied',
    );
    const second = await layer.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-bbbbb',
      quarantineId: 'q-2',
      reason: 'b',
    });
    assert.equal(second.outcome, 'applied');
    assert.match(second.detail, /in place/);
    assert.equal(api.requests().filter((q) => q.method === 'POST').length, 1, 'the policy is created once');
    assert.equal(labelsOf(api, 'web-7d4b9-bbbbb')[QUARANTINE_LABEL], 'q-2');
    assert.equal(labelsOf(api, 'web-7d4b9-ccccc')[QUARANTINE_LABEL], undefined);

    const first = await layer.release({ namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-1' });
    assert.equal(first.outcome, 'released', first.detail);
    assert.match(first.detail, /kept: pod web-7d4b9-bbbbb is still quarantined/);
    assert.equal(labelsOf(api, 'web-7d4b9-aaaaa')[QUARANTINE_LABEL], undefined);
    assert.equal(labelsOf(api, 'web-7d4b9-aaaaa')['app'], 'web');
    assert.equal(api.networkPolicies(NS).length, 1);

    const last = await layer.release({ namespace: NS, pod: 'web-7d4b9-bbbbb', quarantineId: 'q-2' });
    assert.equal(last.outcome, 'released', last.detail);
    assert.match(last.detail, /deleted \(no quarantined pod left\)/);
    assert.equal(api.networkPolicies(NS).length, 0);
    assert.equal(labelsOf(api, 'web-7d4b9-bbbbb')[QUARANTINE_LABEL], undefined);
    // The removal is the merge patch `labels: { key: null }`.
    const unlabel = api
      .requests()
      .filter((q) => q.method === 'PATCH')
      .at(-1)?.body as { metadata: { labels: Record<string, unknown> } };
    assert.deepEqual(unlabel.metadata.labels, { [QUARANTINE_LABEL]: null });
    // Deleting was decided by a list with the label selector.
    assert.ok(
      api
        .requests()
        .some(
          (q) =>
            q.method === 'GET' &&
            q.path === `/api/v1/namespaces/${NS}/pods` &&
            /labelSelector=vigil\.dev%2Fquarantine/.test(q.query),
        ),
    );
  });

  it('is idempotent: quarantine twice is already-applied, release twice is released', async function () {
    const p = { namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-3', reason: 'x' };
    assert.equal((await layer.quarantine(p)).outcome, 'applied');
    api.clearRequests();
    const again = await layer.quarantine(p);
    assert.equal(again.outcome, 'already-applied', again.detail);
    assert.deepEqual(
      api.requests().filter((q) => q.method !== 'GET'),
      [],
      'nothing is written the second time',
    );
    assert.equal((await layer.release(p)).outcome, 'released');
    const twice = await layer.release(p);
    assert.equal(twice.outcome, 'released', twice.detail);
    assert.match(twice.detail, /already released/);
    assert.match(twice.detail, /already gone/);
    assert.equal(api.networkPolicies(NS).length, 0);
  });

  it('re-creates a missing policy when the pod is already labelled (applied, not already-applied)', async function () {
    const p = { namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-4', reason: 'x' };
    await layer.quarantine(p);
    await client.request({ method: 'DELETE', path: POLICY_PATH });
    const r = await layer.quarantine(p);
    assert.equal(r.outcome, 'applied', r.detail);
    assert.match(r.detail, /already labelled.*created/);
    assert.equal(api.networkPolicies(NS).length, 1);
  });

  it('repairs a vigil-quarantine policy whose spec someone changed', async function () {
    api.addNetworkPolicy({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: QUARANTINE_POLICY_NAME, namespace: NS },
      // An empty selector would cut every pod in the namespace.
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: {} }] }] },
    });
    const r = await layer.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-5',
      reason: 'x',
    });
    assert.equal(r.outcome, 'applied', r.detail);
    assert.match(r.detail, /repaired/);
    const policy = api.networkPolicies(NS)[0]!;
    assert.deepEqual(policy.spec, {
      podSelector: { matchExpressions: [{ key: QUARANTINE_LABEL, operator: 'Exists' }] },
      policyTypes: ['Ingress', 'Egress'],
    });
    assert.equal(policy.metadata.generation, 2);
  });

  it('answers not-found for a missing pod and writes nothing', async function () {
    const r = await layer.quarantine({ namespace: NS, pod: 'web-gone', quarantineId: 'q-6', reason: 'x' });
    assert.deepEqual(r, { outcome: 'not-found', detail: 'pod shop/web-gone does not exist' });
    assert.equal(api.networkPolicies(NS).length, 0);
    assert.deepEqual(
      api.requests().filter((q) => q.method !== 'GET'),
      [],
    );
  });

  it('never touches a pod whose uid differs from the one given', async function () {
    const before = api.getPod(NS, 'web-7d4b9-aaaaa');
    const r = await layer.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-7',
      reason: 'x',
      podUid: '00000000-0000-0000-0000-000000000000',
    });
    assert.equal(r.outcome, 'failed');
    assert.match(r.detail, /has uid .* not 00000000-0000-0000-0000-000000000000.*left untouched/);
    assert.deepEqual(api.getPod(NS, 'web-7d4b9-aaaaa'), before);

    // With the right uid it goes through; a release naming another uid leaves the pod alone.
    const uid = before!.metadata.uid!;
    const ok = await layer.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-7',
      reason: 'x',
      podUid: uid,
    });
    assert.equal(ok.outcome, 'applied');
    const rel = await layer.release({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-7',
      podUid: 'other-uid',
    });
    assert.equal(rel.outcome, 'not-found', rel.detail);
    assert.match(rel.detail, /is now another pod/);
    assert.equal(labelsOf(api, 'web-7d4b9-aaaaa')[QUARANTINE_LABEL], 'q-7');
  });

  it('fails with the API Status message on 403 and 500', async function () {
    api.failNext('PATCH', podPath('web-7d4b9-aaaaa'), 403);
    const forbidden = await layer.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-8',
      reason: 'x',
    });
    assert.equal(forbidden.outcome, 'failed');
    assert.match(
      forbidden.detail,
      /403 Forbidden: pods "web-7d4b9-aaaaa" is forbidden: User "fake-admin" cannot patch resource "pods" in API group "" in the namespace "shop"/,
    );
    assert.equal(labelsOf(api, 'web-7d4b9-aaaaa')[QUARANTINE_LABEL], undefined);

    api.failNext('POST', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`, 500);
    const broken = await layer.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-8',
      reason: 'x',
    });
    assert.equal(broken.outcome, 'failed');
    assert.match(
      broken.detail,
      /labelled pod .* but cannot ensure NetworkPolicy shop\/vigil-quarantine: .*500 InternalError: Internal error occurred/,
    );
    // A retry by the caller completes it.
    const retry = await layer.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-8',
      reason: 'x',
    });
    assert.equal(retry.outcome, 'applied', retry.detail);

    api.failNext('DELETE', POLICY_PATH, 403);
    const rel = await layer.release({ namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-8' });
    assert.equal(rel.outcome, 'failed');
    assert.match(
      rel.detail,
      /removed vigil\.dev\/quarantine .* but cannot clean up .*cannot delete resource "networkpolicies" in API group "networking.k8s.io"/,
    );
  });

  it('retries a 409 Conflict and keeps what the other writer changed', async function () {
    // A controller changes the pod between our read and our patch: a genuine stale precondition.
    api.beforeNext('PATCH', podPath('web-7d4b9-aaaaa'), () =>
      api.updatePod(NS, 'web-7d4b9-aaaaa', (pod) => {
        pod.metadata.labels = { ...pod.metadata.labels, 'controller-touched': 'yes' };
      }),
    );
    const r = await layer.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-9',
      reason: 'x',
    });
    assert.equal(r.outcome, 'applied', r.detail);
    const patches = api.requests().filter((q) => q.method === 'PATCH');
    assert.deepEqual(
      patches.map((q) => q.status),
      [409, 200],
    );
    assert.equal(labelsOf(api, 'web-7d4b9-aaaaa')[QUARANTINE_LABEL], 'q-9');
    assert.equal(labelsOf(api, 'web-7d4b9-aaaaa')['controller-touched'], 'yes');

    // Release retries the same way.
    api.clearRequests();
    api.failNext('PATCH', podPath('web-7d4b9-aaaaa'), 409);
    const rel = await layer.release({ namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-9' });
    assert.equal(rel.outcome, 'released', rel.detail);
    assert.deepEqual(
      api
        .requests()
        .filter((q) => q.method === 'PATCH')
        .map((q) => q.status),
      [409, 200],
    );
    assert.equal(labelsOf(api, 'web-7d4b9-aaaaa')[QUARANTINE_LABEL], undefined);
  });

  it('gives up after a bounded number of conflicts', async function () {
    for (let i = 0; i <= MAX_CONFLICT_RETRIES; i++) api.failNext('PATCH', podPath('web-7d4b9-aaaaa'), 409);
    const r = await layer.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-10',
      reason: 'x',
    });
    assert.equal(r.outcome, 'failed');
    assert.match(r.detail, /409 Conflict: Operation cannot be fulfilled on pods "web-7d4b9-aaaaa"/);
    assert.equal(api.requests().filter((q) => q.method === 'PATCH').length, MAX_CONFLICT_RETRIES + 1);
  });

  it('annotates the reason (trimmed) when asked, and removes it on release', async function () {
    const annotating = createKubeQuarantineLayer(client, { annotateReason: true });
    await annotating.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-11',
      reason: '  crypto miner  ',
    });
    assert.equal(
      api.getPod(NS, 'web-7d4b9-aaaaa')?.metadata.annotations?.[QUARANTINE_REASON_ANNOTATION],
      'crypto miner',
    );
    await annotating.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-bbbbb',
      quarantineId: 'q-12',
      reason: 'x'.repeat(5000),
    });
    const long =
      api.getPod(NS, 'web-7d4b9-bbbbb')?.metadata.annotations?.[QUARANTINE_REASON_ANNOTATION] ?? '';
    assert.equal(long.length, MAX_REASON_ANNOTATION_CHARS);
    assert.ok(long.endsWith('…'));
    await annotating.release({ namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-11' });
    assert.equal(api.getPod(NS, 'web-7d4b9-aaaaa')?.metadata.annotations, undefined);
    // Without the option, no annotation is written.
    await layer.quarantine({ namespace: NS, pod: 'web-7d4b9-ccccc', quarantineId: 'q-13', reason: 'secret' });
    assert.equal(api.getPod(NS, 'web-7d4b9-ccccc')?.metadata.annotations, undefined);
  });

  it('re-creates the policy when a pod is quarantined while the last release deletes it', async function () {
    await layer.quarantine({ namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-14', reason: 'x' });
    // Another collector labels a pod after our list found none, before our delete.
    api.beforeNext('DELETE', POLICY_PATH, () =>
      api.updatePod(NS, 'web-7d4b9-ccccc', (pod) => {
        pod.metadata.labels = { ...pod.metadata.labels, [QUARANTINE_LABEL]: 'q-15' };
      }),
    );
    const r = await layer.release({ namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-14' });
    assert.equal(r.outcome, 'released', r.detail);
    assert.match(r.detail, /deleted .*then re-created: pod web-7d4b9-ccccc was quarantined meanwhile/);
    assert.equal(api.networkPolicies(NS).length, 1);
  });

  it('leaves the label of a newer quarantine in place on release, and takes over on quarantine', async function () {
    await layer.quarantine({ namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-old', reason: 'x' });
    const takeOver = await layer.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-new',
      reason: 'y',
    });
    assert.equal(takeOver.outcome, 'applied');
    assert.match(takeOver.detail, /held by quarantine q-old/);
    const old = await layer.release({ namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-old' });
    assert.equal(old.outcome, 'released');
    assert.match(old.detail, /held by quarantine q-new now; its label was left.*kept/);
    assert.equal(labelsOf(api, 'web-7d4b9-aaaaa')[QUARANTINE_LABEL], 'q-new');
    assert.equal(api.networkPolicies(NS).length, 1);
  });

  it('cleans up the policy when the quarantined pod is gone (not-found)', async function () {
    await layer.quarantine({ namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-16', reason: 'x' });
    assert.equal(api.deletePod(NS, 'web-7d4b9-aaaaa'), true);
    const r = await layer.release({ namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q-16' });
    assert.equal(r.outcome, 'not-found');
    assert.match(r.detail, /does not exist; NetworkPolicy shop\/vigil-quarantine deleted/);
    assert.equal(api.networkPolicies(NS).length, 0);
  });

  it('refuses ids and names that cannot be a label value or a pod name, without a request', async function () {
    for (const p of [
      { namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'has space' },
      { namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: 'q'.repeat(64) },
      { namespace: NS, pod: 'web-7d4b9-aaaaa', quarantineId: '' },
      { namespace: 'Bad_NS', pod: 'web-7d4b9-aaaaa', quarantineId: 'q-1' },
      { namespace: NS, pod: '../../secrets', quarantineId: 'q-1' },
    ]) {
      const r = await layer.quarantine({ ...p, reason: 'x' });
      assert.equal(r.outcome, 'failed', JSON.stringify(p));
      assert.match(r.detail, /is not a valid|cannot be a label value/);
      assert.equal((await layer.release(p)).outcome, 'failed');
    }
    assert.deepEqual(api.requests(), []);
  });

  it('reports an unreachable API server as failed', async function () {
    await api.close();
    const r = await layer.quarantine({
      namespace: NS,
      pod: 'web-7d4b9-aaaaa',
      quarantineId: 'q-17',
      reason: 'x',
    });
    assert.equal(r.outcome, 'failed');
    assert.match(
      r.detail,
      /cannot label pod shop\/web-7d4b9-aaaaa: GET .* cannot reach http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
    );
    api = await startFakeKubeApiServer(); // for afterEach
  });

  it('getPod returns the pod fields, undefined when missing, and throws other API errors', async function () {
    const pod = await layer.getPod(NS, 'web-7d4b9-aaaaa');
    assert.deepEqual(pod, {
      namespace: NS,
      name: 'web-7d4b9-aaaaa',
      uid: api.getPod(NS, 'web-7d4b9-aaaaa')?.metadata.uid,
      nodeName: 'node-a',
      labels: { app: 'web', 'pod-template-hash': '7d4b9' },
    });
    assert.equal(await layer.getPod(NS, 'nope'), undefined);
    api.failNext('GET', podPath('web-7d4b9-aaaaa'), 403);
    await assert.rejects(
      layer.getPod(NS, 'web-7d4b9-aaaaa'),
      /403 Forbidden: pods "web-7d4b9-aaaaa" is forbidden/,
    );
  });

  it('over https with a kubeconfig: kubectl sees exactly what the layer did', async function () {
    this.timeout(30_000);
    const tlsApi = await startFakeKubeApiServer({ tls: true });
    const dir = mkdtempSync(join(tmpdir(), 'vigil-kube-layer-'));
    try {
      for (const n of ['web-7d4b9-aaaaa', 'web-7d4b9-bbbbb']) tlsApi.addPod(replicaPod(n));
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        [
          'apiVersion: v1',
          'kind: Config',
          'current-context: fake',
          `clusters: [{ name: fake, cluster: { server: "${tlsApi.url}", certificate-authority-data: ${Buffer.from(tlsApi.caPem ?? '').toString('base64')} } }]`,
          `users: [{ name: vigil, user: { token: "${tlsApi.token}" } }]`,
          'contexts: [{ name: fake, context: { cluster: fake, user: vigil, namespace: shop } }]',
          '',
        ].join('\n'),
      );
      const tlsClient = createKubeClient({ mode: 'kubeconfig', path: kubeconfig });
      const tlsLayer = createKubeQuarantineLayer(tlsClient, { annotateReason: true });
      const r = await tlsLayer.quarantine({
        namespace: NS,
        pod: 'web-7d4b9-aaaaa',
        quarantineId: 'q-tls',
        reason: 'outbound to mining pool',
      });
      assert.equal(r.outcome, 'applied', r.detail);
      tlsClient.close();

      // The real kubectl reads the same kubeconfig (CA verified, token sent).
      // (asynchronously: the fake answers from this process)
      const kubectl = async (...args: string[]): Promise<string> =>
        (
          await promisify(execFile)(
            kubectlBinary(),
            ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args],
            { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: dir } },
          )
        ).stdout;
      assert.equal(
        await kubectl('get', 'pods', '-l', QUARANTINE_LABEL, '-o', 'name'),
        'pod/web-7d4b9-aaaaa\n',
      );
      assert.equal(
        await kubectl(
          'get',
          'pod',
          'web-7d4b9-aaaaa',
          '-o',
          `jsonpath={.metadata.annotations.vigil\\.dev/quarantine-reason}`,
        ),
        'outbound to mining pool',
      );
      assert.match(
        await kubectl('get', 'networkpolicies'),
        /^NAME\s+POD-SELECTOR\s+AGE\nvigil-quarantine\s+vigil\.dev\/quarantine\s+\d+s\n$/,
      );
    } finally {
      await tlsApi.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

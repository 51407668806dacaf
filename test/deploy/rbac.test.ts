/**
 * The collector's RBAC, derived from what its code really asks the API server: the Kubernetes
 * quarantine layer runs every path it has (quarantine, a second pod in the same namespace,
 * repairing a tampered policy, release while another pod is still quarantined, the last release,
 * a pod that does not exist) against the fake API server, each request is turned into the RBAC
 * (resource, verb) it needs, and the union must equal what the ClusterRole grants in the plain
 * manifests and in the chart: nothing missing, nothing spare.
 */
import assert from 'node:assert/strict';
import {
  createKubeClient,
  createKubeQuarantineLayer,
  QUARANTINE_POLICY_NAME,
} from '../../collector/response/kube/index.js';
import { startFakeKubeApiServer, type FakeKubeRequestRecord } from '../support/fake-kube-apiserver.js';
import {
  COLLECTOR_RBAC,
  arr,
  kindOf,
  obj,
  plainManifests,
  rbacRuleKeys,
  renderChart,
  type Manifest,
} from './manifests.js';

/**
 * The RBAC `group/resource` and verb a request needs (`/pods`: the core group). A request on the
 * one object whose name the code fixes (the `vigil-quarantine` policy) needs only that name, so
 * its key carries `#name`, as a rule limited by resourceNames grants it.
 */
export function rbacOf(r: Pick<FakeKubeRequestRecord, 'method' | 'path' | 'query'>): {
  resource: string;
  verb: string;
} {
  const m =
    /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/namespaces\/[^/]+\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(
      r.path,
    );
  if (m === null) throw new Error(`unexpected API path ${r.path}`);
  const [, group = '', resource, name, sub] = m;
  if (sub !== undefined) throw new Error(`unexpected subresource ${sub} in ${r.path}`);
  const watch = /(^|&)watch=(true|1)(&|$)/.test(r.query);
  const collection = name === undefined;
  const verbs: Record<string, string> = collection
    ? { GET: watch ? 'watch' : 'list', POST: 'create', DELETE: 'deletecollection' }
    : { GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
  const verb = verbs[r.method];
  if (verb === undefined) throw new Error(`unexpected ${r.method} ${r.path}`);
  const fixedName = name === QUARANTINE_POLICY_NAME ? `#${name}` : '';
  return { resource: `${group}/${String(resource)}${fixedName}`, verb };
}

function granted(all: readonly Manifest[]): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const role of all.filter((m) => kindOf(m) === 'ClusterRole'))
    for (const rule of arr(role.doc['rules']).map(obj))
      for (const key of rbacRuleKeys(rule))
        for (const v of arr(rule['verbs'])) (out[key] ??= new Set()).add(String(v));
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]));
}

describe("the collector's RBAC is exactly what its Kubernetes requests need", function () {
  this.timeout(30_000);
  let used: Record<string, string[]> = {};

  before(async () => {
    const api = await startFakeKubeApiServer();
    const client = createKubeClient({ mode: 'url', server: api.url, token: api.token }, { timeoutMs: 5000 });
    try {
      const pod = (ns: string, name: string): object => ({
        metadata: { name, namespace: ns, labels: { app: 'web' } },
        spec: { nodeName: 'node-a', containers: [{ name: 'web', image: 'nginx:1.27' }] },
      });
      for (const n of ['web-a', 'web-b']) api.addPod(pod('shop', n));
      api.addPod(pod('tampered', 'db-0'));
      api.addNetworkPolicy({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: QUARANTINE_POLICY_NAME, namespace: 'tampered' },
        spec: { podSelector: {}, policyTypes: ['Ingress'] },
      });
      for (const layer of [
        createKubeQuarantineLayer(client),
        createKubeQuarantineLayer(client, { annotateReason: true }),
      ]) {
        const q = async (ns: string, name: string, id: string): Promise<void> => {
          const r = await layer.quarantine({ namespace: ns, pod: name, quarantineId: id, reason: 'test' });
          assert.equal(r.outcome, 'applied', r.detail);
        };
        const rel = async (ns: string, name: string, id: string): Promise<void> => {
          const r = await layer.release({ namespace: ns, pod: name, quarantineId: id });
          assert.equal(r.outcome, 'released', r.detail);
        };
        await q('shop', 'web-a', 'q-1');
        await q('shop', 'web-b', 'q-2');
        await q('tampered', 'db-0', 'q-3');
        await rel('shop', 'web-a', 'q-1'); // web-b still holds the policy
        await rel('shop', 'web-b', 'q-2'); // the last: the policy goes
        await rel('tampered', 'db-0', 'q-3');
        assert.equal(
          (await layer.quarantine({ namespace: 'shop', pod: 'gone', quarantineId: 'q-4', reason: 'x' }))
            .outcome,
          'not-found',
        );
        assert.equal(await layer.getPod('shop', 'web-a').then((p) => p?.name), 'web-a');
      }
      const sets: Record<string, Set<string>> = {};
      for (const r of api.requests()) {
        const { resource, verb } = rbacOf(r);
        (sets[resource] ??= new Set()).add(verb);
      }
      used = Object.fromEntries(Object.entries(sets).map(([k, v]) => [k, [...v].sort()]));
    } finally {
      client.close();
      await api.close();
    }
  });

  it('the quarantine layer uses exactly COLLECTOR_RBAC', () => {
    const want = Object.fromEntries(Object.entries(COLLECTOR_RBAC).map(([k, v]) => [k, [...v].sort()]));
    assert.deepEqual(used, want);
  });

  it('the plain manifests and the chart grant exactly that', () => {
    assert.deepEqual(granted(plainManifests()), used);
    assert.deepEqual(granted(renderChart({}, 'default values')), used);
    assert.deepEqual(granted(renderChart({ collector: { quarantineRbac: false } }, 'no RBAC')), {});
  });

  it('maps requests to RBAC verbs as the API server does', () => {
    const q = (method: string, path: string, query = ''): string => {
      const r = rbacOf({ method, path, query });
      return `${r.resource} ${r.verb}`;
    };
    assert.equal(q('GET', '/api/v1/namespaces/a/pods'), '/pods list');
    assert.equal(q('GET', '/api/v1/namespaces/a/pods', 'watch=true'), '/pods watch');
    assert.equal(q('PATCH', '/api/v1/namespaces/a/pods/p'), '/pods patch');
    assert.equal(
      q('POST', '/apis/networking.k8s.io/v1/namespaces/a/networkpolicies'),
      'networking.k8s.io/networkpolicies create',
    );
    assert.equal(
      q('DELETE', '/apis/networking.k8s.io/v1/namespaces/a/networkpolicies/x'),
      'networking.k8s.io/networkpolicies delete',
    );
    assert.equal(
      q('GET', `/apis/networking.k8s.io/v1/namespaces/a/networkpolicies/${QUARANTINE_POLICY_NAME}`),
      `networking.k8s.io/networkpolicies#${QUARANTINE_POLICY_NAME} get`,
    );
    assert.throws(() => q('GET', '/api/v1/namespaces/a/pods/p/log'), /subresource/);
  });
});

import assert from 'node:assert/strict';
import { ownerOf, workloadKey, workloadOf, type PodIdentity } from './workload.js';

function pod(podName: string, extra: Partial<PodIdentity> = {}): PodIdentity {
  return { namespace: 'shop', podName, containerName: 'app', image: 'registry.local/app:1.0', ...extra };
}

// A Deployment name long enough that its pods' generated names cut the hash short.
const LONG_DEPLOYMENT = 'payments-reconciliation-worker-for-the-eu-west-region-a';

describe('workload identity', () => {
  const cases: [string, PodIdentity, string, string][] = [
    [
      'a Deployment pod',
      pod('web-7d4b9c6f5-x2x9k', { labels: { app: 'web', 'pod-template-hash': '7d4b9c6f5' } }),
      'Deployment',
      'web',
    ],
    [
      'a Deployment with dashes in its name',
      pod('payment-api-v2-5f6d8b7c9-abcde', { labels: { 'pod-template-hash': '5f6d8b7c9' } }),
      'Deployment',
      'payment-api-v2',
    ],
    [
      'a Deployment whose pod names cut the hash short',
      // generateName `<deployment>-7d4b9c6f5-` cut to 58 characters, then 5 random ones.
      pod(`${LONG_DEPLOYMENT}-7d4b9c6f5-`.slice(0, 58) + 'qz7xk', {
        labels: { 'pod-template-hash': '7d4b9c6f5' },
      }),
      'Deployment',
      LONG_DEPLOYMENT,
    ],
    [
      'a StatefulSet pod',
      pod('db-0', {
        labels: { 'controller-revision-hash': 'db-6b8d9f7c9f', 'statefulset.kubernetes.io/pod-name': 'db-0' },
      }),
      'StatefulSet',
      'db',
    ],
    [
      'a StatefulSet pod known by its revision hash alone',
      pod('redis-cluster-12', { labels: { 'controller-revision-hash': 'redis-cluster-5c9d7f' } }),
      'StatefulSet',
      'redis-cluster',
    ],
    [
      'a StatefulSet pod with a pod index',
      pod('kafka-3', { labels: { 'apps.kubernetes.io/pod-index': '3' } }),
      'StatefulSet',
      'kafka',
    ],
    [
      'a DaemonSet pod',
      pod('fluent-bit-x7k2p', {
        labels: { 'controller-revision-hash': '6d5f8b9c7', 'pod-template-generation': '3' },
      }),
      'DaemonSet',
      'fluent-bit',
    ],
    [
      'a DaemonSet pod whose random suffix is all digits',
      pod('node-exporter-24567', { labels: { 'controller-revision-hash': '6d5f8b9c7' } }),
      'DaemonSet',
      'node-exporter',
    ],
    [
      'a Job pod',
      pod('migrate-db-x7k2p', { labels: { 'job-name': 'migrate-db', 'controller-uid': '0f6e3c1a' } }),
      'Job',
      'migrate-db',
    ],
    [
      'a CronJob pod',
      pod('backup-28904160-abcde', { labels: { 'batch.kubernetes.io/job-name': 'backup-28904160' } }),
      'CronJob',
      'backup',
    ],
    [
      'a Job named after a date (not a CronJob)',
      pod('report-20240101-abcde', { labels: { 'job-name': 'report-20240101' } }),
      'Job',
      'report-20240101',
    ],
    [
      'a Job pod known by its controller uid alone',
      pod('once-x7k2p', { labels: { 'controller-uid': '0f6e3c1a' } }),
      'Job',
      'once',
    ],
    [
      'an indexed Job pod known by its controller uid',
      pod('shard-3-x7k2p', {
        labels: {
          'batch.kubernetes.io/controller-uid': 'u',
          'batch.kubernetes.io/job-completion-index': '3',
        },
      }),
      'Job',
      'shard',
    ],
    [
      'a static pod',
      pod('kube-apiserver-node-1', {
        annotations: { 'kubernetes.io/config.source': 'file' },
        nodeName: 'node-1',
      }),
      'StaticPod',
      'kube-apiserver',
    ],
    [
      'a static pod, node unknown',
      pod('etcd-cp-2', { annotations: { 'kubernetes.io/config.mirror': 'abc' } }),
      'StaticPod',
      'etcd-cp-2',
    ],
    ['a bare pod', pod('debug', { labels: { run: 'debug' } }), 'Pod', 'debug'],
    ['a bare pod with an ordinal-like name', pod('tmp-1'), 'Pod', 'tmp-1'],
    [
      'an owner reference to a ReplicaSet of a Deployment',
      pod('web-7d4b9c6f5-x2x9k', {
        labels: { 'pod-template-hash': '7d4b9c6f5' },
        ownerReferences: [{ kind: 'ReplicaSet', name: 'web-7d4b9c6f5', controller: true }],
      }),
      'Deployment',
      'web',
    ],
    [
      'an owner reference to a bare ReplicaSet',
      pod('legacy-x2x9k', { ownerReferences: [{ kind: 'ReplicaSet', name: 'legacy', controller: true }] }),
      'ReplicaSet',
      'legacy',
    ],
    [
      'an owner reference to a custom controller, over the labels',
      pod('canary-5f6d8b7c9-abcde', {
        labels: { 'pod-template-hash': '5f6d8b7c9' },
        ownerReferences: [
          { kind: 'ConfigMap', name: 'not-a-controller' },
          { kind: 'Rollout', name: 'canary', controller: true },
        ],
      }),
      'Rollout',
      'canary',
    ],
    [
      "an owner reference to a CronJob's Job",
      pod('backup-28904160-abcde', {
        ownerReferences: [{ kind: 'Job', name: 'backup-28904160', controller: true }],
      }),
      'CronJob',
      'backup',
    ],
    [
      "a mirror pod's owner reference to its Node",
      pod('kube-scheduler-cp-1', { ownerReferences: [{ kind: 'Node', name: 'cp-1', controller: true }] }),
      'StaticPod',
      'kube-scheduler',
    ],
  ];

  for (const [what, input, kind, name] of cases) {
    it(`names the owner of ${what}: ${kind}/${name}`, () => {
      assert.deepEqual(ownerOf(input), { kind, name });
    });
  }

  it('gives every replica and restart the same identity and key', () => {
    const labels = { 'pod-template-hash': '7d4b9c6f5' };
    const a = workloadOf(pod('web-7d4b9c6f5-x2x9k', { labels, containerName: 'nginx', image: 'nginx:1.27' }));
    const b = workloadOf(pod('web-7d4b9c6f5-q8w4z', { labels, containerName: 'nginx', image: 'nginx:1.28' }));
    assert.deepEqual(a, {
      namespace: 'shop',
      ownerKind: 'Deployment',
      ownerName: 'web',
      container: 'nginx',
      image: 'nginx:1.27',
    });
    assert.equal(workloadKey(a), 'shop/Deployment/web/nginx');
    assert.equal(workloadKey(b), workloadKey(a), 'a new image keeps the identity');
    const sidecar = workloadOf(pod('web-7d4b9c6f5-x2x9k', { labels, containerName: 'envoy' }));
    assert.notEqual(workloadKey(sidecar), workloadKey(a), 'each container is its own workload');
    const elsewhere = workloadOf(
      pod('web-7d4b9c6f5-x2x9k', { labels, namespace: 'staging', containerName: 'nginx' }),
    );
    assert.notEqual(workloadKey(elsewhere), workloadKey(a));
  });
});

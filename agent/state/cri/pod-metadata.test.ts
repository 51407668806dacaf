import assert from 'node:assert/strict';
import type { CriContainer, CriContainerStatus, CriPodSandbox } from './cri-messages.js';
import { podMetadataFromCri } from './pod-metadata.js';

export function criContainer(over: Partial<CriContainer> = {}): CriContainer {
  return {
    id: 'c'.repeat(64),
    podSandboxId: 's'.repeat(64),
    metadata: { name: 'web', attempt: 0 },
    image: { image: 'sha256:1111', annotations: {}, userSpecifiedImage: '' },
    imageRef: 'sha256:1111',
    state: 'CONTAINER_RUNNING',
    createdAt: 1_000n,
    labels: {
      'io.kubernetes.container.name': 'web',
      'io.kubernetes.pod.name': 'shop-7d4b9c',
      'io.kubernetes.pod.namespace': 'prod',
      'io.kubernetes.pod.uid': 'uid-1',
    },
    annotations: {},
    imageId: '',
    ...over,
  };
}

export function criSandbox(over: Partial<CriPodSandbox> = {}): CriPodSandbox {
  return {
    id: 's'.repeat(64),
    metadata: { name: 'shop-7d4b9c', uid: 'uid-1', namespace: 'prod', attempt: 0 },
    state: 'SANDBOX_READY',
    createdAt: 900n,
    labels: {
      app: 'shop',
      tier: 'front',
      'io.kubernetes.pod.name': 'shop-7d4b9c',
      'io.kubernetes.pod.namespace': 'prod',
      'io.kubernetes.pod.uid': 'uid-1',
    },
    annotations: {},
    runtimeHandler: '',
    ...over,
  };
}

export function criStatus(over: Partial<CriContainerStatus> = {}): CriContainerStatus {
  return {
    id: 'c'.repeat(64),
    metadata: { name: 'web', attempt: 0 },
    state: 'CONTAINER_RUNNING',
    createdAt: 1_000n,
    startedAt: 1_700_000_000_123_456_789n,
    finishedAt: 0n,
    exitCode: 0,
    image: { image: 'registry.example/shop/web:1.4', annotations: {}, userSpecifiedImage: '' },
    imageRef: 'registry.example/shop/web@sha256:2222',
    reason: '',
    message: '',
    labels: {},
    annotations: {},
    mounts: [],
    logPath: '',
    imageId: '',
    ...over,
  };
}

describe('podMetadataFromCri', () => {
  it('maps a container, its sandbox and its status to pod metadata', () => {
    const meta = podMetadataFromCri(criContainer(), criSandbox(), criStatus());
    assert.deepEqual(meta, {
      containerId: 'c'.repeat(64),
      containerName: 'web',
      image: 'registry.example/shop/web:1.4',
      imageId: 'sha256:1111',
      podName: 'shop-7d4b9c',
      namespace: 'prod',
      podUid: 'uid-1',
      labels: { app: 'shop', tier: 'front' },
      sandboxId: 's'.repeat(64),
      startedAt: 1_700_000_000_123_456_789n,
    });
    assert.ok(Object.isFrozen(meta) && Object.isFrozen(meta?.labels));
  });

  it('without a status: the image as listed (the user-specified name first), no start time', () => {
    const named = podMetadataFromCri(
      criContainer({ image: { image: 'sha256:1111', annotations: {}, userSpecifiedImage: 'shop/web:1.4' } }),
      criSandbox(),
    );
    assert.equal(named?.image, 'shop/web:1.4');
    assert.equal(named?.startedAt, undefined);
    assert.equal(podMetadataFromCri(criContainer(), criSandbox())?.image, 'sha256:1111');
  });

  it('prefers the runtime image id, and leaves imageId out when nothing names the image', () => {
    assert.equal(
      podMetadataFromCri(criContainer({ imageId: 'sha256:9999' }), criSandbox())?.imageId,
      'sha256:9999',
    );
    const none = podMetadataFromCri(
      criContainer({ imageRef: '' }),
      criSandbox(),
      criStatus({ imageRef: '' }),
    );
    assert.ok(none !== undefined && !('imageId' in none));
  });

  it('a created but not started container has no start time', () => {
    const meta = podMetadataFromCri(
      criContainer({ state: 'CONTAINER_CREATED' }),
      criSandbox(),
      criStatus({ startedAt: 0n }),
    );
    assert.equal(meta?.startedAt, undefined);
  });

  it('falls back to the kubelet labels when metadata is missing', () => {
    const meta = podMetadataFromCri(criContainer({ metadata: null }), criSandbox({ metadata: null }));
    assert.equal(meta?.podName, 'shop-7d4b9c');
    assert.equal(meta?.namespace, 'prod');
    assert.equal(meta?.podUid, 'uid-1');
    assert.equal(meta?.containerName, 'web');
  });

  it('returns undefined for the wrong sandbox, or a pod without a name', () => {
    assert.equal(podMetadataFromCri(criContainer(), criSandbox({ id: 'other' })), undefined);
    assert.equal(podMetadataFromCri(criContainer({ labels: {} }), criSandbox({ metadata: null })), undefined);
  });
});

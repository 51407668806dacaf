import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CriCallError, createCriClient, type CriClient } from './cri-client.js';
import { runtimeServiceDefinition } from './runtime-v1-service.js';

type Handler = (request: Record<string, unknown>) => object | Promise<object>;

/** A runtime on a real Unix socket whose answers the test writes; it records every request. */
async function startFakeRuntime(
  socketPath: string,
  handlers: Record<string, Handler>,
): Promise<{ server: grpc.Server; requests: { method: string; request: Record<string, unknown> }[] }> {
  const requests: { method: string; request: Record<string, unknown> }[] = [];
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(handlers)) {
    const name = method.charAt(0).toLowerCase() + method.slice(1);
    implementation[name] = (
      call: grpc.ServerUnaryCall<Record<string, unknown>, object>,
      callback: grpc.sendUnaryData<object>,
    ): void => {
      requests.push({ method, request: call.request });
      Promise.resolve()
        .then(() => handler(call.request))
        .then(
          (response) => callback(null, response),
          (err: unknown) => callback(err as grpc.ServiceError),
        );
    };
  }
  const server = new grpc.Server();
  server.addService(runtimeServiceDefinition(), implementation);
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err === null ? resolve() : reject(err),
    );
  });
  return { server, requests };
}

const NS = 1_700_000_000_123_456_789n; // beyond 2^53: must survive exactly

describe('createCriClient (against an in-process runtime on a Unix socket)', function () {
  let dir: string;
  let server: grpc.Server | undefined;
  let client: CriClient | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-cri-'));
  });
  afterEach(async () => {
    client?.close();
    client = undefined;
    server?.forceShutdown();
    server = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('asks Version with the API version and returns the runtime name', async () => {
    const fake = await startFakeRuntime(join(dir, 'cri.sock'), {
      Version: () => ({
        version: '0.1.0',
        runtimeName: 'fake',
        runtimeVersion: '1.2.3',
        runtimeApiVersion: 'v1',
      }),
    });
    server = fake.server;
    client = createCriClient(join(dir, 'cri.sock'));
    const v = await client.version();
    assert.deepEqual(v, {
      version: '0.1.0',
      runtimeName: 'fake',
      runtimeVersion: '1.2.3',
      runtimeApiVersion: 'v1',
    });
    assert.equal(fake.requests[0]?.request['version'], 'v1');
  });

  it('sends ListContainers filters and decodes containers with exact 64-bit times, enums by name, empty defaults', async () => {
    const fake = await startFakeRuntime(join(dir, 'cri.sock'), {
      ListContainers: () => ({
        containers: [
          {
            id: 'c1',
            podSandboxId: 's1',
            metadata: { name: 'web', attempt: 2 },
            image: { image: 'busybox:1' },
            imageRef: 'sha256:abc',
            state: 'CONTAINER_RUNNING',
            createdAt: NS,
            labels: { 'io.kubernetes.pod.name': 'p' },
          },
          { id: 'c2' },
        ],
      }),
    });
    server = fake.server;
    client = createCriClient(join(dir, 'cri.sock'));
    const list = await client.listContainers({
      state: { state: 'CONTAINER_RUNNING' },
      labelSelector: { app: 'web' },
    });

    const filter = fake.requests[0]?.request['filter'] as Record<string, unknown>;
    assert.deepEqual(filter['state'], { state: 'CONTAINER_RUNNING' });
    assert.deepEqual(filter['labelSelector'], { app: 'web' });

    assert.equal(list.length, 2);
    const [c1, c2] = list;
    assert.equal(c1?.createdAt, NS);
    assert.equal(c1?.state, 'CONTAINER_RUNNING');
    assert.deepEqual(c1?.metadata, { name: 'web', attempt: 2 });
    assert.equal(c1?.image?.image, 'busybox:1');
    assert.deepEqual(c1?.labels, { 'io.kubernetes.pod.name': 'p' });
    // An unset message is null, unset scalars their zero values, unset maps empty.
    assert.equal(c2?.metadata, null);
    assert.equal(c2?.state, 'CONTAINER_CREATED');
    assert.equal(c2?.createdAt, 0n);
    assert.equal(c2?.podSandboxId, '');
    assert.deepEqual(c2?.labels, {});
  });

  it('sends nested CreateContainer and RunPodSandbox configs intact', async () => {
    const fake = await startFakeRuntime(join(dir, 'cri.sock'), {
      RunPodSandbox: () => ({ podSandboxId: 'sb-1' }),
      CreateContainer: () => ({ containerId: 'ct-1' }),
    });
    server = fake.server;
    client = createCriClient(join(dir, 'cri.sock'));
    const sandboxConfig = {
      metadata: { name: 'p', uid: 'u', namespace: 'ns' },
      labels: { app: 'web' },
      linux: {
        cgroupParent: '/x/pod-u',
        securityContext: { namespaceOptions: { pid: 'CONTAINER' as const } },
      },
    };
    assert.equal(await client.runPodSandbox(sandboxConfig, 'runc'), 'sb-1');
    const id = await client.createContainer(
      'sb-1',
      {
        metadata: { name: 'main' },
        image: { image: 'busybox:1' },
        command: ['/bin/sh', '-c', 'sleep 1'],
        envs: [{ key: 'A', value: 'b' }],
        linux: { securityContext: { runAsUser: { value: 1000n } } },
      },
      sandboxConfig,
    );
    assert.equal(id, 'ct-1');

    const run = fake.requests[0]?.request as { config: Record<string, unknown>; runtimeHandler: string };
    assert.equal(run.runtimeHandler, 'runc');
    assert.deepEqual(run.config['labels'], { app: 'web' });
    const linux = run.config['linux'] as {
      cgroupParent: string;
      securityContext: { namespaceOptions: { pid: string } };
    };
    assert.equal(linux.cgroupParent, '/x/pod-u');
    assert.equal(linux.securityContext.namespaceOptions.pid, 'CONTAINER');

    const create = fake.requests[1]?.request as { podSandboxId: string; config: Record<string, unknown> };
    assert.equal(create.podSandboxId, 'sb-1');
    assert.deepEqual(create.config['command'], ['/bin/sh', '-c', 'sleep 1']);
    assert.deepEqual(create.config['envs'], [{ key: 'A', value: 'b' }]);
    const sc = (create.config['linux'] as { securityContext: { runAsUser: { value: bigint } } })
      .securityContext;
    assert.equal(sc.runAsUser.value, 1000n);
  });

  it('returns ContainerStatus verbose info and ExecSync bytes', async () => {
    const fake = await startFakeRuntime(join(dir, 'cri.sock'), {
      ContainerStatus: (req) => ({
        status: { id: req['containerId'], startedAt: NS, exitCode: 0, state: 'CONTAINER_RUNNING' },
        info: req['verbose'] === true ? { info: '{"pid":42}' } : {},
      }),
      ExecSync: (req) => ({
        stdout: Buffer.from((req['cmd'] as string[]).join(' ')),
        stderr: Buffer.from('warn'),
        exitCode: 3,
      }),
    });
    server = fake.server;
    client = createCriClient(join(dir, 'cri.sock'));
    const status = await client.containerStatus('c9', true);
    assert.equal(status.status?.id, 'c9');
    assert.equal(status.status?.startedAt, NS);
    assert.equal((JSON.parse(status.info['info'] ?? '{}') as { pid?: number }).pid, 42);
    assert.deepEqual((await client.containerStatus('c9')).info, {});

    const exec = await client.execSync('c9', ['echo', 'hi'], 5);
    assert.equal(exec.stdout.toString(), 'echo hi');
    assert.equal(exec.stderr.toString(), 'warn');
    assert.equal(exec.exitCode, 3);
    assert.equal(fake.requests.at(-1)?.request['timeout'], 5n);
  });

  it('rejects with CriCallError carrying the method and the status code', async () => {
    const fake = await startFakeRuntime(join(dir, 'cri.sock'), {
      PodSandboxStatus: () => {
        throw Object.assign(new Error('no such sandbox'), {
          code: grpc.status.NOT_FOUND,
          details: 'sandbox "x" not found',
        });
      },
    });
    server = fake.server;
    client = createCriClient(join(dir, 'cri.sock'));
    await assert.rejects(client.podSandboxStatus('x'), (err: unknown) => {
      assert.ok(err instanceof CriCallError);
      assert.equal(err.method, 'PodSandboxStatus');
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.match(err.message, /PodSandboxStatus.*NOT_FOUND.*sandbox "x" not found/);
      return true;
    });
    // A method the runtime does not implement.
    await assert.rejects(
      client.listPodSandbox(),
      (err: unknown) => err instanceof CriCallError && err.code === grpc.status.UNIMPLEMENTED,
    );
  });

  it('gives up at the deadline when the runtime does not answer', async () => {
    const fake = await startFakeRuntime(join(dir, 'cri.sock'), {
      Version: () => new Promise<object>(() => undefined),
    });
    server = fake.server;
    client = createCriClient(join(dir, 'cri.sock'), { deadlineMs: 5000 });
    const started = Date.now();
    await assert.rejects(
      client.version({ deadlineMs: 200 }),
      (err: unknown) => err instanceof CriCallError && err.code === grpc.status.DEADLINE_EXCEEDED,
    );
    assert.ok(Date.now() - started < 3000, 'the per-call deadline applies, not the client default');
  });

  it('rejects with UNAVAILABLE when nothing listens on the socket', async () => {
    client = createCriClient(join(dir, 'nobody.sock'), { deadlineMs: 2000 });
    await assert.rejects(
      client.version(),
      (err: unknown) => err instanceof CriCallError && err.code === grpc.status.UNAVAILABLE,
    );
  });
});

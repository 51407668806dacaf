import assert from 'node:assert/strict';
import type { CriContainer, CriContainerStatusResponse, CriPodSandbox } from './cri-messages.js';
import { createPodMetadataResolver, type PodMetadataSource } from './pod-metadata-resolver.js';
import { criContainer, criSandbox, criStatus } from './pod-metadata.test.js';

const id = (n: number): string => n.toString(16).padStart(64, '0');
const SB = 's'.repeat(64);

/** A runtime in memory that counts calls; `fail` makes the list calls reject. */
class FakeRuntime implements PodMetadataSource {
  containers: CriContainer[] = [];
  sandboxes: CriPodSandbox[] = [criSandbox()];
  fail = false;
  lists = 0;
  statuses = 0;

  add(n: number, over: Partial<CriContainer> = {}): string {
    this.containers.push(criContainer({ id: id(n), podSandboxId: SB, ...over }));
    return id(n);
  }

  listContainers(): Promise<CriContainer[]> {
    this.lists++;
    return this.fail ? Promise.reject(new Error('runtime down')) : Promise.resolve([...this.containers]);
  }

  listPodSandbox(): Promise<CriPodSandbox[]> {
    return this.fail ? Promise.reject(new Error('runtime down')) : Promise.resolve([...this.sandboxes]);
  }

  containerStatus(containerId: string): Promise<CriContainerStatusResponse> {
    this.statuses++;
    const c = this.containers.find((x) => x.id === containerId);
    if (c === undefined) return Promise.reject(new Error('not found'));
    const started = c.state === 'CONTAINER_CREATED' ? 0n : 5n;
    return Promise.resolve({
      status: criStatus({ id: containerId, state: c.state, startedAt: started }),
      info: {},
    });
  }
}

/** A clock that only moves when the resolver sleeps; records every sleep. */
function fakeClock(): {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  sleeps: number[];
  advance(ms: number): void;
} {
  let t = 1_000_000;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: (ms) => {
      sleeps.push(ms);
      t += ms;
      return Promise.resolve();
    },
    sleeps,
    advance(ms) {
      t += ms;
    },
  };
}

describe('createPodMetadataResolver', () => {
  it('resolves an unknown id by refreshing, then answers from the cache', async () => {
    const rt = new FakeRuntime();
    const c = rt.add(1);
    const clock = fakeClock();
    const pods = createPodMetadataResolver(rt, { now: clock.now, sleep: clock.sleep });

    assert.equal(pods.peek(c), undefined, 'peek does no I/O');
    assert.equal(rt.lists, 0);
    const meta = await pods.resolve(c);
    assert.equal(meta?.podName, 'shop-7d4b9c');
    assert.equal(meta?.namespace, 'prod');
    assert.deepEqual(meta?.labels, { app: 'shop', tier: 'front' });
    assert.equal(meta?.startedAt, 5n);
    assert.equal(rt.lists, 1);
    assert.equal(rt.statuses, 1);

    assert.equal(await pods.resolve(c), meta);
    assert.equal(pods.peek(c), meta);
    assert.equal(rt.lists, 1, 'cached: no further calls');
    assert.deepEqual(pods.stats(), { hits: 3, misses: 1, refreshes: 1, refreshErrors: 0, size: 1 });
  });

  it('coalesces concurrent unknown ids into one refresh', async () => {
    const rt = new FakeRuntime();
    const ids = [rt.add(1), rt.add(2), rt.add(3)];
    const clock = fakeClock();
    const pods = createPodMetadataResolver(rt, { now: clock.now, sleep: clock.sleep });
    const metas = await Promise.all([...ids, id(99)].map((x) => pods.resolve(x)));
    assert.deepEqual(
      metas.map((m) => m?.containerId),
      [...ids, undefined],
    );
    assert.equal(rt.lists, 1);
  });

  it('a flood of unknown ids runs at most one refresh per interval, and each waits for one that started after it asked', async () => {
    const rt = new FakeRuntime();
    const clock = fakeClock();
    const pods = createPodMetadataResolver(rt, {
      now: clock.now,
      sleep: clock.sleep,
      minRefreshIntervalMs: 1000,
    });
    await pods.resolve(id(1));
    assert.equal(rt.lists, 1);

    // The container appears right after that refresh; the next ask must wait out the interval.
    const c = rt.add(2);
    clock.advance(100);
    const meta = await pods.resolve(c);
    assert.equal(meta?.containerId, c);
    assert.deepEqual(clock.sleeps, [900]);
    assert.equal(rt.lists, 2);

    for (let i = 100; i < 1100; i++) await pods.resolve(id(i));
    // Sequential asks: one refresh per interval each, never two within one interval.
    const elapsed = clock.now() - 1_000_000;
    const { refreshes } = pods.stats();
    assert.equal(refreshes, 1002, 'one refresh per unknown id, none skipped or doubled');
    assert.ok(refreshes - 1 <= Math.ceil(elapsed / 1000) + 1, `${refreshes} refreshes in ${elapsed} ms`);
    assert.ok(clock.sleeps.every((ms) => ms <= 1000));
  });

  it('remembers an id the runtime does not know, for the negative TTL', async () => {
    const rt = new FakeRuntime();
    const clock = fakeClock();
    const pods = createPodMetadataResolver(rt, { now: clock.now, sleep: clock.sleep, negativeTtlMs: 30_000 });
    assert.equal(await pods.resolve(id(7)), undefined);
    assert.equal(rt.lists, 1);
    clock.advance(10_000);
    assert.equal(await pods.resolve(id(7)), undefined);
    assert.equal(rt.lists, 1, 'inside the TTL: no refresh');
    clock.advance(25_000);
    rt.add(7);
    assert.equal((await pods.resolve(id(7)))?.containerId, id(7), 'after the TTL it is asked again');
    assert.equal(rt.lists, 2);
  });

  it('does not refresh for sandbox (pause container) ids', async () => {
    const rt = new FakeRuntime();
    rt.add(1);
    const clock = fakeClock();
    const pods = createPodMetadataResolver(rt, { now: clock.now, sleep: clock.sleep, negativeTtlMs: 0 });
    await pods.refresh();
    assert.equal(await pods.resolve(SB), undefined);
    assert.equal(await pods.resolve(SB), undefined);
    assert.equal(rt.lists, 1);
  });

  it('keeps at most maxEntries containers, evicting the least recently used', async () => {
    const rt = new FakeRuntime();
    const [a, b, c] = [rt.add(1), rt.add(2), rt.add(3)];
    const clock = fakeClock();
    const pods = createPodMetadataResolver(rt, { now: clock.now, sleep: clock.sleep, maxEntries: 2 });
    await pods.refresh();
    assert.equal(pods.stats().size, 2);
    assert.equal(pods.peek(a), undefined, 'the first listed went first');

    // The runtime removes a; b is used after c, so c is now the least recently used.
    rt.containers.shift();
    pods.peek(c);
    pods.peek(b);
    const d = rt.add(4);
    clock.advance(2000);
    assert.equal((await pods.resolve(d))?.containerId, d);
    assert.equal(pods.stats().size, 2);
    assert.ok(pods.peek(b) !== undefined);
    assert.equal(pods.peek(c), undefined);
  });

  it('asks ContainerStatus only for containers it has not seen running', async () => {
    const rt = new FakeRuntime();
    const c = rt.add(1, { state: 'CONTAINER_CREATED' });
    rt.add(2);
    const clock = fakeClock();
    const pods = createPodMetadataResolver(rt, { now: clock.now, sleep: clock.sleep });
    await pods.refresh();
    assert.equal(rt.statuses, 2);
    assert.equal(pods.peek(c)?.startedAt, undefined);

    const listed = rt.containers[0];
    assert.ok(listed !== undefined);
    rt.containers[0] = { ...listed, state: 'CONTAINER_RUNNING' };
    await pods.refresh();
    assert.equal(rt.statuses, 3, 'only the container that started is asked again');
    assert.equal(pods.peek(c)?.startedAt, 5n);
  });

  it('survives a runtime outage: reports it, answers undefined, does not remember the miss', async () => {
    const rt = new FakeRuntime();
    const c = rt.add(1);
    rt.fail = true;
    const errors: Error[] = [];
    const clock = fakeClock();
    const pods = createPodMetadataResolver(rt, {
      now: clock.now,
      sleep: clock.sleep,
      onRefreshError: (e) => errors.push(e),
    });
    assert.equal(await pods.resolve(c), undefined);
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? '', /runtime down/);

    rt.fail = false;
    assert.equal(
      (await pods.resolve(c))?.containerId,
      c,
      'retried at once after the interval, not after the negative TTL',
    );
    assert.deepEqual(pods.stats(), { hits: 1, misses: 1, refreshes: 2, refreshErrors: 1, size: 1 });
  });

  it('limits ContainerStatus calls in flight', async () => {
    const rt = new FakeRuntime();
    for (let i = 1; i <= 20; i++) rt.add(i);
    let inFlight = 0;
    let peak = 0;
    const source: PodMetadataSource = {
      listContainers: () => rt.listContainers(),
      listPodSandbox: () => rt.listPodSandbox(),
      containerStatus: async (cid) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
        return rt.containerStatus(cid);
      },
    };
    const pods = createPodMetadataResolver(source, { statusConcurrency: 3 });
    await pods.refresh();
    assert.equal(pods.stats().size, 20);
    assert.equal(peak, 3);
  });
});

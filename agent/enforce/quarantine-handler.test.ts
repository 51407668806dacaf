/**
 * The quarantine handler against real network namespaces (privileged): namespace A plays the
 * pod, B a peer on a veth link. The pod locator is a hand-written one naming A's namespace; the
 * nftables enforcer, nsenter, conntrack, the SQLite store and the kernel are the real ones.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createLogger } from '../../core/log.js';
import type { Command, QuarantineAction } from '../../proto/link-messages.js';
import { requirePrivileged } from '../../test/harness/privileged.js';
import { createNetnsPair, type NetnsPair } from '../../test/support/netns-pair.js';
import { createEnforceMetrics } from './enforce-metrics.js';
import { createEnforcers } from './enforcer-registry.js';
import type { PodLocator } from './pod-locator.js';
import { createQuarantineHandler, type QuarantineHandler } from './quarantine-handler.js';
import { openQuarantineStore, type QuarantineStore } from './quarantine-store.js';

const POD_UID = '0b7c0d3e-7f5e-4a43-9d51-9a0c3f1e2b11';

function quarantine(id: string, over: Partial<QuarantineAction> = {}): Command {
  return {
    id: `cmd-${id}-${Math.random().toString(36).slice(2, 8)}`,
    action: {
      type: 'quarantine',
      quarantineId: id,
      namespace: 'shop',
      pod: 'web',
      podUid: '',
      cutEstablished: true,
      freeze: false,
      reason: 'test',
      ...over,
    },
  };
}

function release(id: string): Command {
  return { id: `rel-${id}`, action: { type: 'release', quarantineId: id, namespace: 'shop', pod: 'web' } };
}

describe('quarantine handler (privileged: network namespaces, nftables, conntrack)', function () {
  this.timeout(60_000);
  let pair: NetnsPair;
  let work: string;
  let store: QuarantineStore;
  let handler: QuarantineHandler;
  let podPresent = true;
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({
    write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>),
    now: Date.now,
  });
  const registry = new Registry();
  const hostRules = (): string => execFileSync('nft', ['list', 'ruleset'], { encoding: 'utf8' });

  const locator: PodLocator = {
    confirm: () => true,
    locate(namespace, name, uid) {
      if (!podPresent || namespace !== 'shop' || name !== 'web')
        return Promise.resolve({ found: false, reason: `no running pod ${namespace}/${name} on this node` });
      if (uid !== undefined && uid !== '' && uid !== POD_UID)
        return Promise.resolve({ found: false, reason: `pod has uid ${POD_UID}, not ${uid}` });
      return Promise.resolve({
        found: true,
        pod: {
          namespace,
          name,
          uid: POD_UID,
          sandboxId: 'sb',
          pid: process.pid,
          netnsPath: `/run/netns/${pair.nsA}`,
        },
      });
    },
  };
  const makeHandler = (nft = 'nft'): QuarantineHandler =>
    createQuarantineHandler({
      locator,
      enforcers: createEnforcers({ nft }),
      store,
      logger,
      metrics: createEnforceMetrics(new Registry(), () => store.count()),
    });
  const podRules = async (): Promise<string> => pair.run('a', ['nft', 'list', 'ruleset']);

  before(async function () {
    requirePrivileged(this, ['nft', 'nsenter', 'conntrack', 'setpriv']);
    work = mkdtempSync(join(tmpdir(), 'vigil-enforce-'));
    pair = await createNetnsPair(`h${process.pid % 10000}`);
    store = openQuarantineStore(join(work, 'quarantines.db'));
    handler = createQuarantineHandler({
      locator,
      enforcers: createEnforcers(),
      store,
      logger,
      metrics: createEnforceMetrics(registry, () => store.count()),
    });
    await pair.echoServer('a', 7000);
    await pair.echoServer('b', 7001);
  });

  after(async () => {
    store?.close();
    await pair?.destroy();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  afterEach(async () => {
    podPresent = true;
    await handler.handle(release('q-any')); // leaves nothing of ours behind between tests
    await pair.run('a', ['nft', 'delete', 'table', 'inet', 'vigil_quarantine']).catch(() => undefined);
    for (const r of store.all()) store.delete(r.quarantineId);
  });

  it('cuts new connections both ways, is idempotent, and releases', async () => {
    const hostBefore = hostRules();
    assert.equal(await pair.client('b', pair.addressA, 7000).connected(), 'connected');

    const first = await handler.handle(quarantine('q-1'));
    assert.equal(first.outcome, 'applied', first.detail);
    assert.match(
      first.detail,
      /network cut \(new and established connections\), conntrack flushed on pod shop\/web/,
    );
    assert.match(await podRules(), /table inet vigil_quarantine \{\s+comment "vigil quarantine q-1"/);
    assert.equal(await pair.client('b', pair.addressA, 7000).connected(1500), 'timeout'); // peer -> pod
    assert.equal(await pair.client('a', pair.addressB, 7001).connected(1500), 'timeout'); // pod -> peer
    assert.equal(hostRules(), hostBefore, "the node's own ruleset is untouched");

    const again = await handler.handle(quarantine('q-1'));
    assert.equal(again.outcome, 'already-applied', again.detail);
    assert.equal(store.count(), 1);

    const released = await handler.handle(release('q-1'));
    assert.equal(released.outcome, 'released');
    assert.equal(released.detail, 'pod shop/web: network restored');
    assert.doesNotMatch(await podRules(), /vigil_quarantine/);
    assert.equal(await pair.client('b', pair.addressA, 7000).connected(), 'connected');
    assert.equal(await pair.client('a', pair.addressB, 7001).connected(), 'connected');
    assert.equal(store.count(), 0);

    const twice = await handler.handle(release('q-1'));
    assert.deepEqual([twice.outcome, twice.detail], ['released', 'nothing to release']);
    assert.equal(hostRules(), hostBefore);
    const text = await registry.metrics();
    assert.match(text, /vigil_agent_enforce_commands_total\{action="quarantine",outcome="applied"\} 1/);
    assert.match(
      text,
      /vigil_agent_enforce_commands_total\{action="quarantine",outcome="already-applied"\} 1/,
    );
    assert.match(text, /vigil_agent_quarantines_active 0/);
  });

  it('cuts an established connection (cutEstablished: true)', async () => {
    const client = pair.client('b', pair.addressA, 7000);
    assert.equal(await client.connected(), 'connected');
    assert.equal(await client.roundTrip('before'), 'ok');
    assert.equal((await handler.handle(quarantine('q-2'))).outcome, 'applied');
    assert.equal(await client.roundTrip('during', 1500), 'timeout');
    client.stop();
  });

  it('keeps connections established before the quarantine (cutEstablished: false), refuses new ones', async () => {
    // Fresh namespaces: no conntrack rule was ever loaded in A, so conntrack never saw these.
    const inbound = pair.client('b', pair.addressA, 7000);
    const outbound = pair.client('a', pair.addressB, 7001);
    assert.equal(await inbound.connected(), 'connected');
    assert.equal(await outbound.connected(), 'connected');
    const result = await handler.handle(quarantine('q-3', { cutEstablished: false }));
    assert.equal(result.outcome, 'applied', result.detail);
    // These two, and any left open by earlier tests.
    assert.ok(Number(/(\d+) established connection\(s\) kept/.exec(result.detail)?.[1]) >= 2, result.detail);
    assert.equal(await inbound.roundTrip('kept-in'), 'ok');
    assert.equal(await outbound.roundTrip('kept-out'), 'ok');
    assert.equal(await inbound.roundTrip('kept-in-again'), 'ok');
    assert.equal(await pair.client('b', pair.addressA, 7000).connected(1500), 'timeout');
    assert.equal(await pair.client('a', pair.addressB, 7001).connected(1500), 'timeout');
    inbound.stop();
    outbound.stop();
  });

  it('finding: with only "ct state established" a connection older than the first ct rule is cut', async () => {
    // What the 4-tuple set in the ruleset is for. A pair of its own: conntrack must never have
    // been enabled in the "pod" namespace, as in a pod no rule of which uses conntrack.
    const { quarantineRuleset } = await import('./nft-ruleset.js');
    const fresh = await createNetnsPair(`f${process.pid % 10000}`, '10.231.8');
    try {
      await fresh.echoServer('a', 7000);
      const client = fresh.client('b', fresh.addressA, 7000);
      assert.equal(await client.connected(), 'connected');
      assert.equal(await client.roundTrip('before'), 'ok');
      // A keep-established ruleset with no kept tuples: conntrack alone decides.
      await fresh.run(
        'a',
        ['nft', '-f', '-'],
        quarantineRuleset({ quarantineId: 'ct-only', cutEstablished: false }),
      );
      assert.equal(await client.roundTrip('after', 1500), 'timeout');
      // Each packet was picked up mid-stream as "new", dropped, and so never confirmed.
      const entries = await fresh.run('a', ['conntrack', '-L']);
      assert.doesNotMatch(entries, /ESTABLISHED.*dport=7000/);
      // Control: a connection opened after the ct rule was loaded is tracked from its SYN, but
      // that SYN is refused by this ruleset; so under it no connection ever gets through.
      assert.equal(await fresh.client('b', fresh.addressA, 7000).connected(1500), 'timeout');
      client.stop();
    } finally {
      await fresh.destroy();
    }
  });

  it('finding: a conntrack rule loaded before the connection lets "ct state established" keep it', async () => {
    const { quarantineRuleset } = await import('./nft-ruleset.js');
    const fresh = await createNetnsPair(`e${process.pid % 10000}`, '10.231.9');
    try {
      // Any rule with a ct expression turns conntrack on in the namespace.
      await fresh.run(
        'a',
        ['nft', '-f', '-'],
        'table inet early { chain c { type filter hook input priority 0; policy accept; ct state established counter; }; }\n',
      );
      await fresh.echoServer('a', 7000);
      const client = fresh.client('b', fresh.addressA, 7000);
      assert.equal(await client.connected(), 'connected');
      assert.equal(await client.roundTrip('before'), 'ok');
      await fresh.run(
        'a',
        ['nft', '-f', '-'],
        quarantineRuleset({ quarantineId: 'ct-only', cutEstablished: false }),
      );
      assert.equal(await client.roundTrip('after'), 'ok');
      assert.match(await fresh.run('a', ['conntrack', '-L']), /ESTABLISHED.*dport=7000/);
      client.stop();
    } finally {
      await fresh.destroy();
    }
  });

  it("refuses to cut a pod that shares the node's network namespace", async () => {
    const hostPod: PodLocator = {
      confirm: () => true,
      locate: (namespace, name) =>
        Promise.resolve({
          found: true,
          pod: {
            namespace,
            name,
            uid: POD_UID,
            sandboxId: 'sb',
            pid: process.pid,
            netnsPath: '/proc/self/ns/net',
          },
        }),
    };
    const hostRulesBefore = hostRules();
    const result = await createQuarantineHandler({
      locator: hostPod,
      enforcers: createEnforcers(),
      store,
      logger,
    }).handle(quarantine('q-host'));
    assert.equal(result.outcome, 'failed');
    assert.match(
      result.detail,
      /shares the node's network namespace \(hostNetwork\): cutting it would cut the node/,
    );
    assert.equal(hostRules(), hostRulesBefore);
    assert.equal(store.count(), 0);
  });

  it("refuses the node's namespace and its own when the agent runs in a network namespace of its own", () => {
    // As in the DaemonSet (hostPID, no hostNetwork): the agent's namespace is not the node's. The
    // node's is /proc/1/ns/net there by default; pid 1 is not readable in this sandbox, so the test
    // names the node's namespace (this process's) with hostNetns.
    const script = `
      import { createLogger } from ${JSON.stringify(new URL('../../core/log.js', import.meta.url).href)};
      import { createEnforcers } from ${JSON.stringify(new URL('./enforcer-registry.js', import.meta.url).href)};
      import { createQuarantineHandler } from ${JSON.stringify(new URL('./quarantine-handler.js', import.meta.url).href)};
      import { openQuarantineStore } from ${JSON.stringify(new URL('./quarantine-store.js', import.meta.url).href)};
      const node = ${JSON.stringify(`/proc/${process.pid}/ns/net`)};
      const results = [];
      const store = openQuarantineStore(${JSON.stringify(join(work, 'own-netns.db'))});
      for (const netnsPath of [node, '/proc/self/ns/net']) {
        const pod = { namespace: 'kube-system', name: 'kube-proxy', uid: 'u', sandboxId: 'sb', pid: 1, netnsPath };
        const handler = createQuarantineHandler({
          locator: { confirm: () => true, locate: async () => ({ found: true, pod }) },
          // \`false\` for nft: should the check ever break, this test must not cut this machine.
          enforcers: createEnforcers({ nft: 'false', conntrack: '' }),
          store,
          logger: createLogger({ write: () => undefined, now: Date.now }),
          hostNetns: node,
        });
        results.push(await handler.handle({ id: 'c', action: { type: 'quarantine', quarantineId: 'q-node',
          namespace: 'kube-system', pod: 'kube-proxy', podUid: '', cutEstablished: true, freeze: false, reason: 'r' } }));
      }
      process.stdout.write(JSON.stringify(results));`;
    const hostRulesBefore = hostRules();
    const out = execFileSync(
      'ip',
      ['netns', 'exec', pair.nsA, process.execPath, '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    const results = JSON.parse(out) as { outcome: string; detail: string }[];
    assert.equal(results.length, 2);
    for (const r of results) {
      assert.equal(r.outcome, 'failed', r.detail);
      assert.match(r.detail, /shares the node's network namespace \(hostNetwork\)/);
    }
    assert.equal(hostRules(), hostRulesBefore);
  });

  it('answers not-on-this-node for a pod the runtime does not have, or one with another uid', async () => {
    const absent = await handler.handle(quarantine('q-4', { pod: 'elsewhere' }));
    assert.deepEqual(
      [absent.outcome, absent.detail],
      ['not-on-this-node', 'no running pod shop/elsewhere on this node'],
    );
    const replaced = await handler.handle(quarantine('q-4', { podUid: 'another-uid' }));
    assert.equal(replaced.outcome, 'not-on-this-node');
    assert.match(replaced.detail, /not another-uid/);
    assert.doesNotMatch(await podRules(), /vigil_quarantine/);
    assert.equal(store.count(), 0);
  });

  it('fails with the reason when nft is missing, and records nothing', async () => {
    const broken = makeHandler('/nonexistent/nft');
    const result = await broken.handle(quarantine('q-5'));
    assert.equal(result.outcome, 'failed');
    assert.match(
      result.detail,
      /cannot run \/nonexistent\/nft: nsenter: failed to execute \/nonexistent\/nft/,
    );
    assert.equal(store.count(), 0);
  });

  it('fails with the reason when nft is not permitted (run without privileges), and records nothing', async () => {
    const wrapper = join(work, 'nft-as-nobody');
    writeFileSync(wrapper, '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups nft "$@"\n', {
      mode: 0o755,
    });
    const result = await makeHandler(wrapper).handle(quarantine('q-perm'));
    assert.equal(result.outcome, 'failed');
    assert.match(result.detail, /exited 1: .*Operation not permitted/);
    assert.equal(store.count(), 0);
    assert.doesNotMatch(await podRules(), /vigil_quarantine/);
  });

  it('a freeze that cannot be done fails the command but keeps the cut; release still works', async () => {
    // The located "pod" process is this test's, whose cgroup is no pod's.
    const result = await handler.handle(quarantine('q-fz', { freeze: true }));
    assert.equal(result.outcome, 'failed');
    assert.match(
      result.detail,
      /^network cut .*; but cgroup-freeze failed: the parent of process \d+'s cgroup/,
    );
    assert.match(await podRules(), /vigil quarantine q-fz/);
    assert.equal(store.get('q-fz')?.freeze, true);
    const released = await handler.handle(release('q-fz'));
    assert.equal(released.outcome, 'released');
    assert.match(released.detail, /^pod shop\/web: not thawed: .*; network restored$/);
    assert.equal(store.count(), 0);
  });

  it('a newer quarantine of the same pod replaces the older one', async () => {
    assert.equal((await handler.handle(quarantine('q-6'))).outcome, 'applied');
    const newer = await handler.handle(quarantine('q-7'));
    assert.equal(newer.outcome, 'applied');
    assert.match(newer.detail, /replaces quarantine q-6/);
    assert.deepEqual(
      store.all().map((r) => r.quarantineId),
      ['q-7'],
    );
    const old = await handler.handle(release('q-6'));
    assert.deepEqual([old.outcome, old.detail], ['released', 'nothing to release']);
    assert.match(await podRules(), /vigil quarantine q-7/);
  });

  it('re-applies remembered quarantines at start, and drops those whose pod is gone', async () => {
    assert.equal((await handler.handle(quarantine('q-8'))).outcome, 'applied');
    // The agent is down; somebody deletes the table by hand.
    await pair.run('a', ['nft', 'delete', 'table', 'inet', 'vigil_quarantine']);
    const restarted = makeHandler();
    assert.deepEqual(await restarted.reapplyAll(), {
      reapplied: 1,
      alreadyInPlace: 0,
      podsGone: 0,
      failed: 0,
    });
    assert.match(await podRules(), /vigil quarantine q-8/);
    assert.deepEqual(await makeHandler().reapplyAll(), {
      reapplied: 0,
      alreadyInPlace: 1,
      podsGone: 0,
      failed: 0,
    });

    // A sandbox not ready yet (node rebooting, sandbox re-created) keeps the record for a while.
    podPresent = false;
    let clock = 1_000_000;
    const later = createQuarantineHandler({
      locator,
      enforcers: createEnforcers(),
      store,
      logger,
      missingGraceMs: 60_000,
      now: () => clock,
    });
    const gone = { reapplied: 0, alreadyInPlace: 0, podsGone: 1, failed: 0 };
    assert.deepEqual(await later.reapplyAll(), gone);
    assert.equal(store.count(), 1);
    clock += 30_000;
    assert.deepEqual(await later.reapplyAll('reconcile'), gone);
    assert.equal(store.count(), 1);
    clock += 30_000;
    assert.deepEqual(await later.reapplyAll('reconcile'), gone);
    assert.equal(store.count(), 0);
    assert.ok(logs.some((l) => l['msg'] === 'quarantined pod is gone from this node; record dropped'));
  });

  it('puts the table back when someone in the pod added a rule to it (CAP_NET_ADMIN)', async () => {
    assert.equal((await handler.handle(quarantine('q-11'))).outcome, 'applied');
    await pair.run('a', ['nft', 'insert', 'rule', 'inet', 'vigil_quarantine', 'input', 'accept']);
    assert.equal((await handler.reapplyAll('reconcile')).reapplied, 1);
    const input = /chain input \{[^}]*\}/.exec(await podRules())?.[0] ?? '';
    assert.doesNotMatch(input, /^\s*accept$/m);
    assert.equal((await handler.reapplyAll('reconcile')).alreadyInPlace, 1);
  });

  it('keeps the record of a pod whose sandbox comes back, and re-applies it then', async () => {
    assert.equal((await handler.handle(quarantine('q-9'))).outcome, 'applied');
    podPresent = false;
    const restarted = makeHandler();
    assert.equal((await restarted.reapplyAll()).podsGone, 1);
    // The runtime re-created the sandbox: a fresh namespace, without the rules.
    podPresent = true;
    await pair.run('a', ['nft', 'delete', 'table', 'inet', 'vigil_quarantine']);
    assert.equal((await restarted.reapplyAll('reconcile')).reapplied, 1);
    assert.match(await podRules(), /vigil quarantine q-9/);
  });

  it('drops the record at once when the pod was replaced by another of the same name', async () => {
    assert.equal((await handler.handle(quarantine('q-10', { podUid: POD_UID }))).outcome, 'applied');
    const replacedLocator: PodLocator = {
      confirm: () => true,
      locate: () => Promise.resolve({ found: false, reason: 'another uid', replaced: true }),
    };
    const h = createQuarantineHandler({
      locator: replacedLocator,
      enforcers: createEnforcers(),
      store,
      logger,
    });
    assert.equal((await h.reapplyAll()).podsGone, 1);
    assert.equal(store.count(), 0);
  });
});

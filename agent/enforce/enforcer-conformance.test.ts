/**
 * One suite every registered enforcer passes (privileged): against a "pod" made of a real network
 * namespace and a real cgroup v2 directory named like a kubelet pod cgroup, holding a sleeping
 * process of that namespace.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requirePrivileged } from '../../test/harness/privileged.js';
import { createNetnsPair, type NetnsPair } from '../../test/support/netns-pair.js';
import { findCgroup2Mount } from './cgroup-freezer.js';
import type { EnforcementTarget, PodEnforcer, QuarantineSpec } from './enforcer.js';
import { createEnforcers, enforcerNames } from './enforcer-registry.js';
import { openNetns } from './netns-exec.js';

const spec = (over: Partial<QuarantineSpec> = {}): QuarantineSpec => ({
  quarantineId: 'q-conf',
  cutEstablished: true,
  freeze: true,
  ...over,
});

describe('node enforcers: the conformance suite (privileged: netns, nftables, cgroup v2)', function () {
  this.timeout(30_000);
  let pair: NetnsPair;
  let sleeper: ChildProcess;
  let podDir: string;
  let containerDir: string;
  let target: EnforcementTarget;
  const uid = randomUUID();

  before(async function () {
    requirePrivileged(this, ['nft', 'nsenter']);
    const mount = findCgroup2Mount(readFileSync('/proc/self/mountinfo', 'utf8'));
    if (mount === undefined) throw new Error('no cgroup2 hierarchy mounted');
    pair = await createNetnsPair(`c${process.pid % 10000}`, '10.231.10');
    podDir = join(mount, `vigil-conformance-${process.pid}`, `pod${uid}`);
    containerDir = join(podDir, 'c1');
    mkdirSync(containerDir, { recursive: true });
    sleeper = spawn('ip', ['netns', 'exec', pair.nsA, 'sleep', '600'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200)); // ip execs sleep in place: same pid
    const pid = sleeper.pid as number;
    writeFileSync(join(containerDir, 'cgroup.procs'), String(pid));
    target = {
      pod: { namespace: 'shop', name: 'web', uid, sandboxId: 'sb', pid, netnsPath: `/proc/${pid}/ns/net` },
      netns: openNetns(`/proc/${pid}/ns/net`),
    };
  });

  after(async () => {
    target?.netns.close();
    if (podDir !== undefined && existsSync(join(podDir, 'cgroup.freeze')))
      writeFileSync(join(podDir, 'cgroup.freeze'), '0');
    sleeper?.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    for (const dir of [containerDir, podDir, podDir === undefined ? undefined : join(podDir, '..')]) {
      if (dir !== undefined && existsSync(dir)) rmdirSync(dir);
    }
    await pair?.destroy();
  });

  it('registers the network cut first, then the freeze', () => {
    assert.deepEqual(enforcerNames(), ['nftables', 'cgroup-freeze']);
  });

  for (const enforcer of createEnforcers()) {
    describe(enforcer.name, () => {
      const e: PodEnforcer = enforcer;

      it('describes itself and works here', async () => {
        assert.match(e.name, /^[a-z0-9-]+$/);
        assert.ok(e.description.length > 20);
        assert.equal(await e.unavailableReason(), undefined);
        assert.equal(e.wanted(spec()), true);
      });

      it('applies, sees itself in place, re-applies idempotently, and removes', async () => {
        assert.equal(await e.inPlace(target, spec(), undefined), false);
        assert.match(await e.apply(target, spec()), /\w/);
        assert.equal(await e.inPlace(target, spec(), undefined), true);
        await e.apply(target, spec());
        assert.equal(await e.inPlace(target, spec(), spec()), true);
        const removed = await e.remove(target, spec());
        assert.equal(removed?.undone, true, JSON.stringify(removed));
        assert.equal(await e.inPlace(target, spec(), undefined), false);
        assert.equal(await e.remove(target, spec()), undefined, 'nothing left to remove');
      });
    });
  }

  it('nftables: leaves the rules of another quarantine alone, and sees a changed mode as not in place', async () => {
    const [nft] = createEnforcers();
    assert.ok(nft !== undefined);
    await nft.apply(target, spec({ quarantineId: 'q-other' }));
    assert.equal(await nft.inPlace(target, spec(), undefined), false);
    assert.deepEqual(await nft.remove(target, spec()), {
      undone: false,
      detail: "left the pod's rules of quarantine q-other alone",
    });
    assert.equal(
      await nft.inPlace(
        target,
        spec({ quarantineId: 'q-other', cutEstablished: false }),
        spec({ quarantineId: 'q-other' }),
      ),
      false,
    );
    assert.equal((await nft.remove(target, spec({ quarantineId: 'q-other' })))?.undone, true);
  });

  it("cgroup-freeze: freezes the whole pod cgroup, its containers' cgroups with it", async () => {
    const freeze = createEnforcers()[1];
    assert.ok(freeze !== undefined);
    await freeze.apply(target, spec());
    assert.match(readFileSync(join(podDir, 'cgroup.events'), 'utf8'), /^frozen 1$/m);
    assert.match(readFileSync(join(containerDir, 'cgroup.events'), 'utf8'), /^frozen 1$/m);
    assert.equal((await freeze.remove(target, spec()))?.detail, 'pod thawed');
    assert.match(readFileSync(join(podDir, 'cgroup.events'), 'utf8'), /^frozen 0$/m);
  });
});

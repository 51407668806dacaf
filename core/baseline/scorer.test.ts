import assert from 'node:assert/strict';
import { connectValue, generaliseWritePath, inNetwork, pathPatternMatches } from './paths.js';
import {
  addItem,
  decodeProfile,
  emptyProfile,
  encodeProfile,
  lockProfile,
  observationDelta,
  type Profile,
} from './profile.js';
import { formatSpan, observationItems, scoreObservation, workloadName, type Observation } from './scorer.js';

const KEY = 'payments/Deployment/api/api|api:1';
const DAY = 86_400_000;

/** A profile that learnt `observations` at time 0 and was locked. */
function learnt(observations: Observation[]): Profile {
  const items = observations.flatMap(observationItems).map((i) => ({ ...i, firstSeenMs: 0, lastSeenMs: 0 }));
  return lockProfile(observationDelta(emptyProfile(KEY), 'n1', 3_600_000, items, 0), {
    actor: 'agent:n1',
    nowMs: 1,
  });
}

describe('profile paths', () => {
  it('generalises scratch areas and generated names, and keeps chosen names', () => {
    assert.equal(generaliseWritePath('/tmp/x8Ks/out.txt'), '/tmp/*');
    assert.equal(generaliseWritePath('/dev/shm/sem.1'), '/dev/shm/*');
    assert.equal(generaliseWritePath('/var/log/app.log'), '/var/log/app.log');
    assert.equal(generaliseWritePath('/var/lib/app/1714564800/state.json'), '/var/lib/app/*/state.json');
    assert.equal(generaliseWritePath('/data/sessions/sess_9f2c1d83'), '/data/sessions/*');
    assert.equal(
      generaliseWritePath('/data/uploads/3f2504e0-4f89-11d3-9a0c-0305e82c3301'),
      '/data/uploads/*',
    );
    assert.equal(generaliseWritePath('/etc/passwd'), '/etc/passwd');
  });

  it('matches hand-written patterns', () => {
    assert.ok(pathPatternMatches('/var/cache/app/*', '/var/cache/app/a/b'));
    assert.ok(pathPatternMatches('/srv/*/logs/*', '/srv/x/logs/y'));
    assert.ok(!pathPatternMatches('/srv/*/logs', '/srv/x/data'));
    assert.ok(!pathPatternMatches('/etc/app', '/etc/app2'));
  });

  it('spells destinations and tests networks', () => {
    assert.equal(connectValue('tcp', '10.0.0.7', 5432), 'tcp 10.0.0.7:5432');
    assert.equal(connectValue('udp', 'fd00::a', 53), 'udp [fd00::a]:53');
    assert.ok(inNetwork('10.1.2.3', '10.0.0.0', 8));
    assert.ok(!inNetwork('11.1.2.3', '10.0.0.0', 8));
    assert.ok(inNetwork('fd00::1:2', 'fd00::', 64));
    assert.ok(!inNetwork('10.1.2.3', 'fd00::', 8));
  });
});

describe('anomaly scorer', () => {
  const normal: Observation[] = [
    { exec: { path: '/usr/bin/python3', parent: '/bin/sh' }, user: 'app' },
    { fileWrite: '/tmp/abc123' },
    { connect: { proto: 'tcp', address: '10.0.0.5', port: 5432 } },
    { listen: { proto: 'tcp', port: 8080 } },
  ];
  const p = learnt(normal);
  const now = 14 * DAY + 5;

  it('scores what the profile holds as 0', () => {
    for (const o of [...normal, { fileWrite: '/tmp/other-file' }]) {
      assert.deepEqual(scoreObservation(p, o, { nowMs: now }), {
        score: 0,
        reasons: [],
        rule: '',
        subject: '',
      });
    }
  });

  it('learns and recognises executables, parents and users longer than the value limit', () => {
    const long = `/opt/${'d'.repeat(700)}/tool`;
    const obs: Observation = { exec: { path: long, parent: `${long}-parent` }, user: 'u'.repeat(600) };
    const q = learnt([obs]);
    // What is learnt must survive the binary form (the store, the collector) ...
    const back = decodeProfile(encodeProfile(q));
    // ... and recognise the same activity.
    assert.equal(scoreObservation(back, obs, { nowMs: now }).score, 0);
    assert.ok(
      scoreObservation(back, { exec: { path: '/bin/other', parent: long } }, { nowMs: now }).score > 0,
    );
  });

  it("explains a new executable from a parent that never spawned anything, in the issue's words", () => {
    const s = scoreObservation(p, { exec: { path: '/tmp/x', parent: '/usr/bin/python3' } }, { nowMs: now });
    assert.equal(s.rule, 'Anomalous executable');
    assert.ok(s.score > 0.95 && s.score <= 1, String(s.score));
    assert.deepEqual(s.reasons, [
      '`/tmp/x` never executed by payments/api in 14 days of history',
      'parent `python3` never spawned anything',
    ]);
  });

  it('flags a new parent → child pair of known executables', () => {
    const q = learnt([...normal, { exec: { path: '/bin/sh', parent: '/usr/bin/python3' } }]);
    const s = scoreObservation(
      q,
      { exec: { path: '/usr/bin/python3', parent: '/usr/bin/python3' } },
      { nowMs: now },
    );
    assert.equal(s.rule, 'Anomalous process spawn');
    assert.equal(s.score, 0.75);
    assert.deepEqual(s.reasons, ['parent `python3` never spawned `python3` in payments/api']);
  });

  it('weighs destinations: new port high, new peer on a known port lower, networks added by hand match', () => {
    const newPort = scoreObservation(
      p,
      { connect: { proto: 'tcp', address: '10.0.0.5', port: 4444 } },
      { nowMs: now },
    );
    assert.equal(newPort.score, 0.85);
    assert.match(newPort.reasons[0] ?? '', /never connected to port 4444\/tcp in 14 days of history/);
    const newPeer = scoreObservation(
      p,
      { connect: { proto: 'tcp', address: '10.0.0.6', port: 5432 } },
      { nowMs: now },
    );
    assert.equal(newPeer.score, 0.75);
    const q = addItem(p, { kind: 'connect', value: 'tcp 10.0.0.0/24:5432' }, { actor: 'alice', nowMs: 2 });
    assert.equal(
      scoreObservation(q, { connect: { proto: 'tcp', address: '10.0.0.6', port: 5432 } }, { nowMs: now })
        .score,
      0,
    );
  });

  it('does not let a learnt write under /proc cover kernel settings', () => {
    const q = learnt([{ fileWrite: '/proc/1234/oom_score_adj' }, { fileWrite: '/proc/self/attr/current' }]);
    assert.equal(scoreObservation(q, { fileWrite: '/proc/5678/oom_score_adj' }, { nowMs: now }).score, 0);
    const escape = scoreObservation(q, { fileWrite: '/proc/sys/kernel/core_pattern' }, { nowMs: now });
    assert.ok(escape.score >= 0.7, JSON.stringify(escape));
    assert.match(escape.reasons[0] ?? '', /core_pattern. never written .* \(a system directory\)/);
  });

  it('flags drift whatever the profile says, and combines evidence', () => {
    const s = scoreObservation(
      p,
      {
        exec: { path: '/usr/bin/python3', parent: '/bin/sh' },
        drift: { path: '/usr/bin/python3', why: 'written after the container started' },
      },
      { nowMs: now },
    );
    assert.equal(s.score, 1);
    assert.equal(s.rule, 'Anomalous executable drift');
    const two = scoreObservation(p, { user: 'root', listen: { proto: 'tcp', port: 22 } }, { nowMs: now });
    assert.ok(two.score > 0.9, String(two.score));
    assert.equal(two.reasons.length, 2);
  });

  it('formats history spans and workload names', () => {
    assert.equal(formatSpan(40_000), '40 seconds');
    assert.equal(formatSpan(25 * 60_000), '25 minutes');
    assert.equal(formatSpan(3 * 3_600_000), '3 hours');
    assert.equal(formatSpan(14 * DAY), '14 days');
    assert.equal(workloadName('payments/Deployment/api/sidecar|x'), 'payments/api/sidecar');
    assert.equal(workloadName('-/Host/node-1/-|'), 'host node-1');
  });
});

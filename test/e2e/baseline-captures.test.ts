/**
 * No false positives on what was learnt: every capture in shared/captures is replayed through a
 * real agent (in process: its sources, process table, pipeline, Vigil's ruleset, spool and
 * baseline store) that learns from it and has its profiles locked (as an operator's lock arrives
 * from the collector), then through a fresh agent on the same data directory that reads the
 * locked profiles and sequence models back and scores the same capture again. Not one anomaly
 * alert may come out, while the locked profiles did score the capture's events.
 *
 * Host processes are profiled here (`baseline.profile_host: true`): most captures were taken on
 * hosts, not in pods, and without them there would be little to score.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type Agent } from '../../agent/agent.js';
import { DEFAULT_RULES_FILE, loadAgentConfig } from '../../agent/config.js';
import type { Alert } from '../../core/alert.js';
import { encodeProfile, lockProfile } from '../../core/baseline/profile.js';
import { createLogger } from '../../core/log.js';
import { requireShared } from '../support/shared.js';

interface Replay {
  readonly alerts: Alert[];
  readonly stats: NonNullable<Agent['baseline']>['stats'] extends () => infer S ? S : never;
  readonly logs: string[];
}

/**
 * Runs an agent over `source` until the source is done. With `lock`, every profile is then
 * locked the way an operator's lock arrives from the collector (a merged profile), before the
 * agent stops.
 */
async function replay(
  dataDir: string,
  source: string,
  learningPeriod: string,
  lock = false,
): Promise<Replay> {
  const yaml = [
    `node: capture-node`,
    `data_dir: ${JSON.stringify(dataDir)}`,
    `sources: [${JSON.stringify(source)}]`,
    `source_options: { follow: false }`,
    `rules: [${JSON.stringify(DEFAULT_RULES_FILE)}]`,
    `rule_matching: all`,
    `outputs: [none]`,
    `http: { listen: none }`,
    `cri: { socket: ${JSON.stringify(join(dataDir, 'no-runtime.sock'))} }`,
    `enforce: { enabled: false }`,
    `baseline: { learning_period: ${learningPeriod}, profile_host: true }`,
  ].join('\n');
  const config = loadAgentConfig({ name: 'agent.yaml', text: yaml }, {}, undefined);
  const logs: string[] = [];
  const agent = await startAgent(config, {
    logger: createLogger({ write: (l) => logs.push(l), now: Date.now, level: 'info' }),
    readRules: (paths) => paths.map((p) => ({ name: p, text: readFileSync(p, 'utf8') })),
    watchRules: false,
    version: 'test',
  });
  const alerts: Alert[] = [];
  agent.pipeline.onSpooled((batch) => alerts.push(...batch));
  await agent.sourcesDone();
  const engine = agent.baseline;
  if (lock && engine !== undefined) {
    for (const key of engine.keys()) {
      const p = engine.profile(key);
      assert.ok(p !== undefined);
      assert.ok(
        engine.applyRemote(key, encodeProfile(lockProfile(p, { actor: 'alice', nowMs: Date.now() }))),
      );
    }
  }
  const stats = agent.baseline?.stats();
  await agent.stop();
  assert.ok(stats !== undefined, 'the baseline engine is on by default');
  return { alerts, stats, logs };
}

/** Every capture, as an agent source flag (peer JSON documents written out as one line each). */
function captureSources(root: string, work: string): { name: string; source: string }[] {
  const out: { name: string; source: string }[] = [];
  const scap = join(root, 'scap');
  for (const f of readdirSync(scap).sort()) {
    if (f.endsWith('.falco.jsonl')) out.push({ name: f, source: `jsonl:${join(scap, f)}` });
  }
  const peers = join(root, 'peers');
  for (const f of readdirSync(peers).sort()) {
    const kind = f.startsWith('tetragon') ? 'tetragon' : f.startsWith('tracee') ? 'tracee' : undefined;
    if (kind === undefined) continue;
    const text = readFileSync(join(peers, f), 'utf8');
    const lines = f.endsWith('.jsonl') ? text : `${JSON.stringify(JSON.parse(text) as unknown)}\n`;
    const file = join(work, `${f}.jsonl`);
    writeFileSync(file, lines);
    out.push({ name: f, source: `${kind}:${file}` });
  }
  return out;
}

describe('baselines on the shared captures (e2e)', function () {
  this.timeout(300_000);
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'vigil-baseline-captures-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('raises no anomaly replaying each capture through a profile learnt from it', async function () {
    const root = requireShared(this, 'captures');
    const captures = captureSources(root, work);
    assert.ok(captures.length >= 20, `${captures.length} captures found`);
    let scored = 0;
    let lockedProfiles = 0;
    let models = 0;
    const report: string[] = [];
    for (const c of captures) {
      const dataDir = join(work, c.name);
      const learn = await replay(dataDir, c.source, '24h', true);
      assert.deepEqual(
        learn.alerts.filter((a) => a.kind === 'anomaly'),
        [],
        `${c.name}: anomalies while learning`,
      );
      assert.equal(learn.stats.profiles.learning, 0, `${c.name}: not locked by the operator`);
      // Same data directory: the locked profiles and sequence models are read back.
      const check = await replay(dataDir, c.source, '24h');
      const anomalies = check.alerts.filter((a) => a.kind === 'anomaly');
      assert.deepEqual(
        anomalies.map((a) => `${a.rule}: ${(a.reasons ?? []).join('; ')}`),
        [],
        `${c.name}: false positives`,
      );
      assert.equal(check.stats.anomaliesSuppressed.rate + check.stats.anomaliesSuppressed.repeat, 0);
      assert.equal(check.stats.profiles.learning, 0, `${c.name}: a profile still learning`);
      scored += check.stats.eventsScored;
      models += check.stats.sequence.models;
      lockedProfiles += check.stats.profiles.locked;
      report.push(
        `${c.name}: ${check.stats.profiles.locked} profiles, ${check.stats.eventsScored} events scored, ` +
          `${check.stats.sequence.models} sequence models`,
      );
    }
    console.log(`      ${report.join('\n      ')}`);
    // Not vacuous: the captures' workloads were profiled, and their events scored.
    assert.ok(lockedProfiles >= captures.length - 2, `${lockedProfiles} profiles locked`);
    assert.ok(scored > 5000, `${scored} events scored`);
    assert.ok(models > 10, `${models} sequence models`);
  });

  it('does raise anomalies when the profile was learnt from other activity (the check above can fail)', async function () {
    const root = requireShared(this, 'captures/scap');
    const dataDir = join(work, 'cross');
    await replay(dataDir, `jsonl:${join(root, 'libs_sample.falco.jsonl')}`, '24h', true);
    const check = await replay(dataDir, `jsonl:${join(root, 'libs_curl_google.falco.jsonl')}`, '0s');
    const anomalies = check.alerts.filter((a) => a.kind === 'anomaly');
    assert.ok(anomalies.length > 0, 'curl on a host that never ran it');
    const curl = anomalies.find((a) => a.rule === 'Anomalous executable');
    assert.ok(curl !== undefined, anomalies.map((a) => a.rule).join(', '));
    assert.match((curl.reasons ?? []).join('\n'), /curl. never executed by host capture-node/);
  });
});

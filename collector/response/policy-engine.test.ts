import assert from 'node:assert/strict';
import { ConfigError } from '../../core/config-schema.js';
import { Priority } from '../../core/priority.js';
import { alertFieldValue, matchesPolicy, RateLimiter } from './policy-engine.js';
import {
  podAlert,
  podHolder,
  responseConfig,
  startResponseHarness,
  type ResponseHarness,
} from './response-harness.test.js';

async function metric(h: ResponseHarness, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await h.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const values = (m?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  return (
    values.find((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))?.value ?? 0
  );
}

describe('response policies: matching', () => {
  const alert = podAlert('a1', 'shop', 'web-1', {
    priority: 'Error',
    score: 0.82,
    output_fields: {
      'k8s.ns.name': 'shop',
      'k8s.pod.name': 'web-1',
      'container.image.repository': 'registry.example/shop/web',
      'proc.pid': 4242,
    },
  });

  it('matches priority at or above the level', () => {
    assert.equal(matchesPolicy({ priority: Priority.Warning }, alert), true);
    assert.equal(matchesPolicy({ priority: Priority.Error }, alert), true);
    assert.equal(matchesPolicy({ priority: Priority.Critical }, alert), false);
    assert.equal(matchesPolicy({ priority: Priority.Critical }, { ...alert, priority: 'Emergency' }), true);
  });

  it('needs every listed tag, the rule among the listed, the kind', () => {
    assert.equal(matchesPolicy({ tags: ['container', 'shell'] }, alert), true);
    assert.equal(matchesPolicy({ tags: ['container', 'network'] }, alert), false);
    assert.equal(matchesPolicy({ rules: ['Other', 'Terminal shell in container'] }, alert), true);
    assert.equal(matchesPolicy({ rules: ['Other'] }, alert), false);
    assert.equal(matchesPolicy({ kind: 'signature' }, alert), true);
    assert.equal(matchesPolicy({ kind: 'anomaly' }, alert), false);
  });

  it('compares the anomaly score, and alerts without one do not match a min_score', () => {
    assert.equal(matchesPolicy({ minScore: 0.8 }, alert), true);
    assert.equal(matchesPolicy({ minScore: 0.82 }, alert), true);
    assert.equal(matchesPolicy({ minScore: 0.9 }, alert), false);
    const { score: _s, ...noScore } = alert;
    void _s;
    assert.equal(matchesPolicy({ minScore: 0 }, noScore), false);
  });

  it('matches output fields against one of the values, falling back to the workload', () => {
    assert.equal(matchesPolicy({ outputFields: { 'k8s.ns.name': ['shop', 'payments'] } }, alert), true);
    assert.equal(matchesPolicy({ outputFields: { 'k8s.ns.name': ['payments'] } }, alert), false);
    assert.equal(matchesPolicy({ outputFields: { 'proc.pid': ['4242'] } }, alert), true);
    assert.equal(matchesPolicy({ outputFields: { 'fd.name': ['/etc/shadow'] } }, alert), false);
    const bare = podAlert('a2', 'shop', 'web-1', { output_fields: {} });
    assert.equal(alertFieldValue(bare, 'container.image.repository'), 'registry.example/shop/web');
    assert.equal(alertFieldValue(bare, 'k8s.pod.name'), 'web-1');
    assert.equal(
      matchesPolicy({ outputFields: { 'container.image.repository': ['registry.example/shop/web'] } }, bare),
      true,
    );
  });

  it('needs every criterion at once', () => {
    assert.equal(matchesPolicy({ priority: Priority.Warning, tags: ['shell'], minScore: 0.5 }, alert), true);
    assert.equal(matchesPolicy({ priority: Priority.Warning, tags: ['shell'], minScore: 0.9 }, alert), false);
  });

  it('rate limiter: at most max in any window', () => {
    const r = new RateLimiter(2, 1000);
    assert.equal(r.tryTake(0), true);
    assert.equal(r.tryTake(10), true);
    assert.equal(r.tryTake(999), false);
    assert.equal(r.tryTake(1000), true);
    assert.equal(r.tryTake(1005), false);
    assert.equal(r.tryTake(1010), true);
  });
});

describe('response policies: configuration', () => {
  const parse = (policies: unknown[]): ReturnType<typeof responseConfig> => responseConfig({ policies });

  it('fills defaults and parses every key', () => {
    const c = parse([
      {
        name: 'miners',
        match: {
          rules: ['Detect crypto miners'],
          priority: 'critical',
          tags: ['mitre_impact'],
          kind: 'signature',
          min_score: '0.7',
          output_fields: { 'k8s.ns.name': ['shop', 'web'], 'proc.pid': 1 },
        },
      },
      {
        name: 'watch',
        match: { kind: 'anomaly' },
        action: 'notify',
        dry_run: true,
        rate_limit: { max: 2, per: '1m' },
      },
    ]);
    assert.deepEqual(c.neverNamespaces, ['kube-system']);
    assert.deepEqual(c.kubernetes, { mode: 'off' });
    assert.deepEqual(c.policies[0], {
      name: 'miners',
      match: {
        rules: ['Detect crypto miners'],
        priority: Priority.Critical,
        tags: ['mitre_impact'],
        kind: 'signature',
        minScore: 0.7,
        outputFields: { 'k8s.ns.name': ['shop', 'web'], 'proc.pid': ['1'] },
      },
      action: 'quarantine',
      dryRun: false,
      rateLimit: { max: 5, perMs: 600_000 },
      cutEstablished: true,
      freeze: false,
    });
    assert.equal(c.policies[1]?.action, 'notify');
    assert.equal(c.policies[1]?.dryRun, true);
    assert.deepEqual(c.policies[1]?.rateLimit, { max: 2, perMs: 60_000 });
  });

  it('refuses bad policies with the key at fault', () => {
    const refused = (policies: unknown[], key: RegExp): void => {
      assert.throws(
        () => parse(policies),
        (err: unknown) => err instanceof ConfigError && key.test(err.message),
      );
    };
    refused([{ name: 'all', match: {} }], /response\.policies\.0\.match: expected at least one criterion/);
    refused(
      [{ name: 'x', match: { priority: 'urgent' } }],
      /policies\.0\.match\.priority: expected a priority/,
    );
    refused(
      [{ name: 'x', match: { severity: 'high' } }],
      /policies\.0\.match\.severity: .*unknown key "severity"/,
    );
    refused([{ name: 'x', match: { min_score: 2 } }], /min_score: expected a number from 0 to 1/);
    refused([{ name: 'x', match: { kind: 'other' } }], /kind: expected one of signature, anomaly/);
    refused(
      [{ name: 'x', match: { tags: ['a'] }, action: 'kill' }],
      /policies\.0\.action: expected one of quarantine, notify/,
    );
    refused(
      [
        { name: 'x', match: { tags: ['a'] } },
        { name: 'x', match: { tags: ['b'] } },
      ],
      /policies\.1\.name: expected a name not used by another policy/,
    );
    refused([{ match: { tags: ['a'] } }], /policies\.0\.name: expected a non-empty string/);
    assert.throws(
      () =>
        responseConfig({
          kubernetes: { mode: 'url', kubeconfig: '', context: '', server: '', token_file: '', ca_file: '' },
        }),
      /response\.kubernetes\.server: expected the API server URL/,
    );
  });
});

describe('response policies: decisions (real ingest, agents on real streams)', function () {
  this.timeout(20_000);
  let h: ResponseHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const policies = (extra: Record<string, unknown> = {}): ReturnType<typeof responseConfig> =>
    responseConfig({
      policies: [
        {
          name: 'shells',
          match: { tags: ['shell'], priority: 'warning' },
          rate_limit: { max: 2, per: '1m' },
          ...extra,
        },
      ],
    });

  it('quarantines the pod an alert names, once, and records who and why', async () => {
    h = await startResponseHarness({ config: policies() });
    const agent = await h.agent('node-1', podHolder(['shop/web-1']));
    h.accept([podAlert('a1', 'shop', 'web-1')]);
    await h.response.policies.idle();
    const q = h.response.service.openFor('shop', 'web-1');
    assert.equal(q?.state, 'active');
    assert.equal(q?.actor, 'policy:shells');
    assert.equal(q?.alertId, 'a1');
    assert.equal(q?.node, 'node-1');
    assert.equal(q?.layers.node.state, 'applied');
    assert.equal(q?.layers.kubernetes.state, 'skipped');
    assert.equal(agent.commands.length, 1);
    // A second alert about the same pod changes nothing.
    h.accept([podAlert('a2', 'shop', 'web-1')]);
    await h.response.policies.idle();
    assert.equal(agent.commands.length, 1);
    const actions = h.response.audit
      .list()
      .records.map((r) => `${r.actor} ${r.action}`)
      .reverse();
    assert.deepEqual(actions, [
      'policy:shells policy.matched',
      'policy:shells quarantine.requested',
      'policy:shells quarantine.kubernetes',
      'policy:shells quarantine.node',
      'policy:shells quarantine.applied',
    ]);
    assert.equal(await metric(h, 'vigil_collector_response_policy_matches_total', { policy: 'shells' }), 2);
    assert.equal(
      await metric(h, 'vigil_collector_response_policy_outcomes_total', {
        policy: 'shells',
        outcome: 'quarantined',
      }),
      1,
    );
    assert.equal(
      await metric(h, 'vigil_collector_response_policy_outcomes_total', {
        policy: 'shells',
        outcome: 'already_quarantined',
      }),
      1,
    );
  });

  it('never touches kube-system (or any never_namespaces entry), and records that it did not', async () => {
    h = await startResponseHarness({ config: policies() });
    const agent = await h.agent('node-1', podHolder(['kube-system/coredns-1']));
    h.accept([podAlert('k1', 'kube-system', 'coredns-1'), podAlert('k2', 'kube-system', 'coredns-1')]);
    await h.response.policies.idle();
    assert.equal(agent.commands.length, 0);
    assert.equal(h.response.service.list().length, 0);
    const records = h.response.audit.list().records;
    // Recorded once per rate window, not once per alert.
    assert.deepEqual(
      records.map((r) => r.action),
      ['policy.never_namespace'],
    );
    assert.equal(records[0]?.namespace, 'kube-system');
    assert.equal(
      await metric(h, 'vigil_collector_response_policy_outcomes_total', {
        policy: 'shells',
        outcome: 'never_namespace',
      }),
      2,
    );
  });

  it('dry_run records what would happen and does nothing', async () => {
    h = await startResponseHarness({ config: policies({ dry_run: true }) });
    const agent = await h.agent('node-1', podHolder(['shop/web-1']));
    h.accept([podAlert('d1', 'shop', 'web-1')]);
    await h.response.policies.idle();
    assert.equal(agent.commands.length, 0);
    assert.equal(h.response.service.list().length, 0);
    const [rec] = h.response.audit.list().records;
    assert.equal(rec?.action, 'policy.dry_run');
    assert.equal(rec?.actor, 'policy:shells');
    assert.equal(rec?.alertId, 'd1');
    assert.equal(rec?.detail['wouldDo'], 'quarantine');
    assert.equal(
      await metric(h, 'vigil_collector_response_policy_outcomes_total', {
        policy: 'shells',
        outcome: 'dry_run',
      }),
      1,
    );
  });

  it('rate-limits per policy: over max per window, nothing is done and it is recorded once', async () => {
    h = await startResponseHarness({ config: policies() });
    const pods = ['shop/web-1', 'shop/web-2', 'shop/web-3', 'shop/web-4', 'shop/web-5'];
    const agent = await h.agent('node-1', podHolder(pods));
    h.accept(pods.map((p, i) => podAlert(`r${i}`, 'shop', p.split('/')[1] as string)));
    await h.response.policies.idle();
    assert.equal(h.response.service.list({ state: 'active' }).length, 2);
    assert.equal(agent.commands.length, 2);
    assert.equal(h.response.audit.list().records.filter((r) => r.action === 'policy.rate_limited').length, 1);
    assert.equal(
      await metric(h, 'vigil_collector_response_policy_outcomes_total', {
        policy: 'shells',
        outcome: 'rate_limited',
      }),
      3,
    );
    // A window later the policy acts again.
    h.clock.now += 60_000;
    h.accept([podAlert('r9', 'shop', 'web-5')]);
    await h.response.policies.idle();
    assert.equal(h.response.service.list({ state: 'active' }).length, 3);
  });

  it('notify only records and counts; alerts below the level or without the tags do not match', async () => {
    h = await startResponseHarness({ config: policies({ action: 'notify' }) });
    const agent = await h.agent('node-1', podHolder(['shop/web-1']));
    h.accept([
      podAlert('n1', 'shop', 'web-1'),
      podAlert('n2', 'shop', 'web-1', { priority: 'Notice' }),
      podAlert('n3', 'shop', 'web-1', { tags: ['network'] }),
    ]);
    await h.response.policies.idle();
    assert.equal(agent.commands.length, 0);
    assert.deepEqual(
      h.response.audit.list().records.map((r) => `${r.action} ${r.alertId}`),
      ['policy.notified n1'],
    );
  });

  it('an alert that names no pod is counted and left alone', async () => {
    h = await startResponseHarness({ config: policies() });
    const { workload: _w, ...hostAlert } = podAlert('h1', 'x', 'y', {
      output_fields: { 'proc.name': 'bash' },
    });
    void _w;
    h.accept([hostAlert]);
    await h.response.policies.idle();
    assert.equal(
      await metric(h, 'vigil_collector_response_policy_outcomes_total', {
        policy: 'shells',
        outcome: 'no_pod',
      }),
      1,
    );
    assert.equal(h.response.audit.count(), 0);
  });
});

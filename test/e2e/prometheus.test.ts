/**
 * Vigil's metrics with the real tools: Debian's Prometheus, on loopback, scrapes a running agent
 * and collector (separate processes linked over mutual TLS) every second, with Vigil's alerting
 * rules loaded; the test waits for both targets to be up and queries series through Prometheus'
 * HTTP API. `promtool check metrics` must accept both `/metrics` bodies.
 *
 * Skipped with the reason when Prometheus is not installed, except with CI=true, where that fails.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchText, requireTool, startVigilStack, type VigilStack } from '../deploy/vigil-stack.js';
import { projectRoot } from '../support/shared.js';

const NODE = 'prom-node-1';
const ALERTS = 20;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe('Prometheus scrapes a real agent and collector (e2e)', function () {
  this.timeout(120_000);
  let stack: VigilStack | undefined;
  let prometheus: ChildProcess | undefined;
  let promLog = '';
  let work = '';
  let api = '';

  const query = async (promql: string): Promise<Sample[]> => {
    const body = JSON.parse(await fetchText(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`)) as {
      status: string;
      data: { resultType: string; result: Sample[] };
    };
    assert.equal(body.status, 'success', `query ${promql}`);
    return body.data.result;
  };
  /** Polls `promql` until `ok` holds for its result, or fails with the last result. */
  const eventually = async (promql: string, ok: (r: Sample[]) => boolean, ms = 30_000): Promise<Sample[]> => {
    const deadline = Date.now() + ms;
    let last: Sample[] = [];
    while (Date.now() < deadline) {
      last = await query(promql);
      if (ok(last)) return last;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.fail(
      `${promql} never met its condition in ${ms} ms; last result ${JSON.stringify(last)}\n${promLog.slice(-2000)}`,
    );
  };
  const value = (r: Sample[]): number => (r.length === 1 ? Number(r[0]?.value[1]) : NaN);

  before(async function () {
    requireTool(this, 'prometheus', 'prometheus');
    requireTool(this, 'promtool', 'prometheus');
    stack = await startVigilStack(NODE);
    stack.raise(ALERTS);
    work = mkdtempSync(join(tmpdir(), 'vigil-prometheus-'));
    copyFileSync(join(projectRoot, 'deploy', 'prometheus', 'alerts.yml'), join(work, 'alerts.yml'));
    // The jobs and labels of deploy/prometheus/prometheus.yml, with static loopback targets in
    // place of Kubernetes discovery.
    writeFileSync(
      join(work, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files: [alerts.yml]',
        'scrape_configs:',
        '  - job_name: vigil-agent',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${stack.agentHttpPort}']`,
        `        labels: { node: ${NODE}, pod: vigil-agent-test }`,
        '  - job_name: vigil-collector',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${stack.collectorHttpPort}']`,
        '        labels: { pod: vigil-collector-test }',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      '/usr/bin/prometheus',
      [
        `--config.file=${join(work, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(work, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout?.on('data', (c: Buffer) => (promLog += c.toString()));
    prometheus.stderr?.on('data', (c: Buffer) => (promLog += c.toString()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (prometheus.exitCode !== null)
        assert.fail(`prometheus exited with ${prometheus.exitCode}:\n${promLog}`);
      const ready = await fetch(`${api}/-/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) assert.fail(`prometheus not ready after 30 s:\n${promLog}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  });

  after(async () => {
    if (prometheus !== undefined && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus?.once('exit', r));
      prometheus.kill('SIGTERM');
      await exited;
    }
    await stack?.stop();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('both targets are up', async () => {
    const deadline = Date.now() + 30_000;
    let targets: { labels: Record<string, string>; health: string; lastError: string }[] = [];
    while (Date.now() < deadline) {
      const body = JSON.parse(await fetchText(`${api}/api/v1/targets`)) as {
        data: { activeTargets: typeof targets };
      };
      targets = body.data.activeTargets;
      if (targets.length === 2 && targets.every((t) => t.health === 'up')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(targets.map((t) => [t.labels['job'], t.health, t.lastError]).sort(), [
      ['vigil-agent', 'up', ''],
      ['vigil-collector', 'up', ''],
    ]);
    const up = await query('up');
    assert.deepEqual(up.map((s) => [s.metric['job'], s.value[1]]).sort(), [
      ['vigil-agent', '1'],
      ['vigil-collector', '1'],
    ]);
  });

  it('queries the agent: events read, rule matches, a live link to the collector', async () => {
    const events = await eventually(
      `sum(vigil_agent_events_total{job="vigil-agent",node="${NODE}",type="execve"})`,
      (r) => value(r) >= ALERTS,
    );
    assert.equal(value(events), ALERTS);
    const matches = await eventually(
      'sum(vigil_agent_rule_matches_total{rule="Stack test shell"})',
      (r) => value(r) === ALERTS,
    );
    assert.equal(value(matches), ALERTS);
    assert.equal(value(await query(`vigil_agent_ship_connected{node="${NODE}"}`)), 1);
    const acked = await eventually('vigil_agent_ship_alerts_acked_total', (r) => value(r) === ALERTS);
    assert.equal(value(acked), ALERTS);
    assert.equal(value(await query('vigil_agent_spool_depth_alerts')), 0);
  });

  it('queries the collector: agents connected, alerts received and stored', async () => {
    assert.equal(value(await query('vigil_collector_agents_connected')), 1);
    const stored = await eventually('vigil_collector_alerts_stored', (r) => value(r) === ALERTS);
    assert.equal(value(stored), ALERTS);
    const received = await eventually(
      `sum by (node) (vigil_collector_alerts_received_total)`,
      (r) => value(r) === ALERTS,
    );
    assert.equal(received[0]?.metric['node'], NODE);
    // The rate over the scrapes Prometheus took is finite and non-negative.
    // A rate needs two scrapes of the series; the first arrives a few seconds after start-up.
    const rate = await eventually(
      'sum(rate(vigil_collector_alerts_received_total[10s]))',
      (r) => r.length === 1,
    );
    assert.ok(rate.length === 1 && Number.isFinite(value(rate)) && value(rate) >= 0, JSON.stringify(rate));
  });

  it("Vigil's alerting rules load and evaluate on real series, none firing on a healthy pair", async () => {
    const deadline = Date.now() + 15_000;
    let rules: { name: string; health: string; state: string; lastError?: string }[] = [];
    while (Date.now() < deadline) {
      const body = JSON.parse(await fetchText(`${api}/api/v1/rules`)) as {
        data: { groups: { rules: typeof rules }[] };
      };
      rules = body.data.groups.flatMap((g) => g.rules);
      if (rules.length > 0 && rules.every((r) => r.health === 'ok')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(rules.length >= 5, `only ${rules.length} rules loaded`);
    assert.deepEqual(
      rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError ?? r.health}`),
      [],
    );
    assert.deepEqual(
      rules.filter((r) => r.state !== 'inactive').map((r) => `${r.name} is ${r.state}`),
      [],
    );
  });

  it('promtool check metrics accepts both /metrics bodies', async () => {
    assert.ok(stack !== undefined);
    for (const url of [stack.agentMetricsUrl, `${stack.collectorUrl}/metrics`]) {
      const body = await fetchText(url);
      const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
      assert.equal(r.status, 0, `promtool check metrics on ${url}:\n${r.stdout}${r.stderr}`);
      assert.equal(`${r.stdout}${r.stderr}`.trim(), '', `promtool had remarks on ${url}`);
    }
    // And it is not a rubber stamp: a gauge with a counter's suffix is refused.
    const bad = spawnSync('promtool', ['check', 'metrics'], {
      input: '# HELP x_total A gauge.\n# TYPE x_total gauge\nx_total 1\n',
      encoding: 'utf8',
    });
    assert.notEqual(bad.status, 0);
  });
});

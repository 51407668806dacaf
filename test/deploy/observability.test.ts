/**
 * The observability files of deploy/: the Prometheus scrape configuration and alerting rules
 * (promtool), the scrape configuration against the manifests it must find (labels, port names,
 * namespace), and the Grafana dashboard's and alert rules' metric names against what a real
 * agent and a real collector expose on `/metrics`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { projectRoot } from '../support/shared.js';
import { arr, at, kindOf, obj, plainManifests } from './manifests.js';
import { fetchText, metricFamilies, requireTool, startVigilStack, type VigilStack } from './vigil-stack.js';

const promDir = join(projectRoot, 'deploy', 'prometheus');
const dashboardFile = join(projectRoot, 'deploy', 'grafana', 'vigil-dashboard.json');

function promtool(args: readonly string[], input?: string): { status: number; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

/** Metric names a PromQL expression refers to (Vigil's own, and `up`). */
export function metricNamesIn(expr: string): string[] {
  const names = [...expr.matchAll(/\bvigil_[a-zA-Z0-9_:]*/g)].map((m) => m[0]);
  if (/\bup\{/.test(expr) || /\bup\b(?!\s*\()/.test(expr.replace(/\{[^}]*\}/g, ''))) names.push('up');
  return [...new Set(names)];
}

/** Whether `name` is a series of one of `families` (histogram series carry a suffix). */
export function seriesExists(name: string, families: ReadonlyMap<string, string>): boolean {
  if (families.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m !== null && ['histogram', 'summary'].includes(families.get(m[1] as string) ?? '');
}

interface DashboardPanel {
  id?: number;
  type?: string;
  title?: string;
  targets?: { expr?: string }[];
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: unknown;
}

function dashboardExprs(): { panel: string; expr: string }[] {
  const dash = JSON.parse(readFileSync(dashboardFile, 'utf8')) as {
    panels: DashboardPanel[];
    templating: { list: { query?: unknown }[] };
  };
  const out: { panel: string; expr: string }[] = [];
  for (const p of dash.panels)
    for (const t of p.targets ?? [])
      if (t.expr !== undefined) out.push({ panel: p.title ?? '?', expr: t.expr });
  for (const v of dash.templating.list) {
    const q = obj(v.query)['query'];
    if (typeof q === 'string') out.push({ panel: 'variable', expr: q });
  }
  return out;
}

function alertExprs(): { panel: string; expr: string }[] {
  const rules = parseYaml(readFileSync(join(promDir, 'alerts.yml'), 'utf8')) as unknown;
  return arr(obj(rules)['groups']).flatMap((g) =>
    arr(obj(g)['rules']).map((r) => ({ panel: String(obj(r)['alert']), expr: String(obj(r)['expr']) })),
  );
}

describe('Prometheus configuration, alerting rules and the Grafana dashboard', function () {
  this.timeout(60_000);

  describe('promtool', () => {
    before(function () {
      requireTool(this, 'promtool', 'prometheus');
    });

    it('check rules: deploy/prometheus/alerts.yml', () => {
      const r = promtool(['check', 'rules', join(promDir, 'alerts.yml')]);
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, /SUCCESS: \d+ rules found/);
    });

    it('check config: deploy/prometheus/prometheus.yml', () => {
      // Debian's Prometheus is built without Kubernetes service discovery: promtool then refuses
      // kubernetes_sd_configs as an unknown field. Probe for it; without it, check everything
      // else by swapping each job's discovery for a static target.
      const dir = mkdtempSync(join(tmpdir(), 'vigil-promtool-'));
      try {
        const probe = join(dir, 'probe.yml');
        writeFileSync(
          probe,
          'scrape_configs:\n  - job_name: p\n    kubernetes_sd_configs:\n      - role: pod\n',
        );
        const hasKubernetesSd = promtool(['check', 'config', probe]).status === 0;
        let file = join(promDir, 'prometheus.yml');
        if (!hasKubernetesSd) {
          const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
          for (const job of arr(config['scrape_configs']).map(obj)) {
            assert.ok(
              arr(job['kubernetes_sd_configs']).length > 0,
              `job ${String(job['job_name'])} has no kubernetes_sd_configs`,
            );
            delete job['kubernetes_sd_configs'];
            job['static_configs'] = [{ targets: ['127.0.0.1:9376'] }];
          }
          file = join(dir, 'prometheus.yml');
          writeFileSync(file, stringifyYaml(config));
          copyFileSync(join(promDir, 'alerts.yml'), join(dir, 'alerts.yml'));
          console.log('      (promtool lacks kubernetes_sd: checked with static targets in its place)');
        }
        const r = promtool(['check', 'config', file]);
        assert.equal(r.status, 0, r.output);
        assert.match(r.output, /SUCCESS/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('the scrape jobs select the pods and ports the manifests define', () => {
    const config = parseYaml(readFileSync(join(promDir, 'prometheus.yml'), 'utf8')) as Record<
      string,
      unknown
    >;
    const manifests = plainManifests();
    const podOf = (kind: string): Record<string, unknown> =>
      obj(manifests.find((m) => kindOf(m) === kind)?.doc);
    const targets: Record<string, Record<string, unknown>> = {
      'vigil-agent': podOf('DaemonSet'),
      'vigil-collector': podOf('Deployment'),
    };
    for (const job of arr(config['scrape_configs']).map(obj)) {
      const workload = targets[String(job['job_name'])];
      assert.ok(workload !== undefined, `unexpected job ${String(job['job_name'])}`);
      const sd = obj(arr(job['kubernetes_sd_configs'])[0]);
      assert.equal(sd['role'], 'pod');
      assert.deepEqual(at(sd, 'namespaces.names'), [at(workload, 'metadata.namespace')]);
      const selector = String(obj(arr(sd['selectors'])[0])['label']);
      const labels = obj(at(workload, 'spec.template.metadata.labels'));
      for (const pair of selector.split(',')) {
        const [k, v] = pair.split('=');
        assert.equal(labels[k as string], v, `${String(job['job_name'])}: the pods lack ${pair}`);
      }
      const keep = arr(job['relabel_configs'])
        .map(obj)
        .find(
          (r) =>
            r['action'] === 'keep' &&
            arr(r['source_labels']).includes('__meta_kubernetes_pod_container_port_name'),
        );
      const portNames = arr(at(workload, 'spec.template.spec.containers')).flatMap((c) =>
        arr(obj(c)['ports']).map((p) => String(obj(p)['name'])),
      );
      assert.ok(
        portNames.some((n) => new RegExp(`^(?:${String(keep?.['regex'])})$`).test(n)),
        `no port matches ${String(keep?.['regex'])}`,
      );
    }
    // Agent series get the node's name, which the dashboard and the alerts group by.
    const agentJob = arr(config['scrape_configs'])
      .map(obj)
      .find((j) => j['job_name'] === 'vigil-agent');
    assert.ok(
      arr(agentJob?.['relabel_configs'])
        .map(obj)
        .some(
          (r) =>
            r['target_label'] === 'node' &&
            arr(r['source_labels']).includes('__meta_kubernetes_pod_node_name'),
        ),
    );
  });

  it('the dashboard is well formed: unique panel ids, a data source and a query on every graph', () => {
    const dash = JSON.parse(readFileSync(dashboardFile, 'utf8')) as { uid: string; panels: DashboardPanel[] };
    assert.equal(dash.uid, 'vigil-overview');
    const ids = dash.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids repeat');
    for (const p of dash.panels.filter((x) => x.type !== 'row')) {
      assert.ok(p.datasource !== undefined, `${p.title}: no data source`);
      assert.ok((p.targets ?? []).length > 0, `${p.title}: no query`);
      assert.ok(p.gridPos !== undefined && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: bad gridPos`);
    }
    assert.ok(dashboardExprs().length >= 30);
  });

  describe('metric names against a real agent and collector', () => {
    let stack: VigilStack | undefined;
    let agentFamilies = new Map<string, string>();
    let collectorFamilies = new Map<string, string>();
    before(async () => {
      stack = await startVigilStack('dash-node-1');
      stack.raise(5);
      agentFamilies = metricFamilies(await fetchText(stack.agentMetricsUrl));
      collectorFamilies = metricFamilies(await fetchText(`${stack.collectorUrl}/metrics`));
    });
    after(async () => {
      await stack?.stop();
    });

    const check = (what: string, exprs: { panel: string; expr: string }[], atLeast: number): void => {
      const missing: string[] = [];
      let checked = 0;
      for (const { panel, expr } of exprs) {
        for (const name of metricNamesIn(expr)) {
          if (name === 'up') continue; // Prometheus' own
          const families = name.startsWith('vigil_agent_') ? agentFamilies : collectorFamilies;
          checked++;
          if (!seriesExists(name, families)) missing.push(`${panel}: ${name}`);
        }
      }
      assert.deepEqual(missing, [], `${what} refers to metrics neither /metrics has`);
      assert.ok(checked >= atLeast, `${what}: only ${checked} names checked`);
    };

    it('every metric the dashboard queries exists', () => {
      assert.ok(agentFamilies.size > 20 && collectorFamilies.size > 20);
      check('the dashboard', dashboardExprs(), 30);
    });

    it('every metric the alerting rules use exists', () => {
      check('alerts.yml', alertExprs(), 5);
    });

    it('the name check fails on a name that does not exist', () => {
      assert.equal(seriesExists('vigil_agent_events_totl', agentFamilies), false);
      assert.equal(seriesExists('vigil_agent_ship_ack_duration_seconds_bucket', agentFamilies), true);
      assert.equal(seriesExists('vigil_agent_events_total_bucket', agentFamilies), false);
      assert.deepEqual(metricNamesIn('sum by (le) (rate(vigil_a_bucket{node=~"$node"}[5m])) / up{job="x"}'), [
        'vigil_a_bucket',
        'up',
      ]);
    });
  });
});

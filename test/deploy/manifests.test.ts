/**
 * The deployment, validated offline: every plain manifest (deploy/kubernetes) and every document
 * `helm template` renders from the chart (default values and several combinations) against the
 * official Kubernetes schemas (kubernetes-models 4.x), cert-manager resources structurally, then
 * our own security checks: the agent asks for exactly the privileges deploy/README.md documents,
 * the collector for none, RBAC for exactly the quarantine verbs, and the collector has its
 * NetworkPolicy. Each check is also shown to catch what it is for. `helm lint` must pass, and
 * the configuration files inside the ConfigMaps must load with Vigil's own config loaders.
 */
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../../agent/config.js';
import { loadCollectorConfig } from '../../collector/config.js';
import {
  CERT_MANAGER_API,
  agentProblems,
  arr,
  at,
  chartDir,
  collectorProblems,
  documentedPrivileges,
  helm,
  kindOf,
  nameOf,
  networkPolicyProblems,
  obj,
  parseManifests,
  plainManifests,
  rbacProblems,
  renderChart,
  validateCertManager,
  validateSchema,
  type AgentExpectation,
  type Manifest,
} from './manifests.js';

interface Case {
  readonly name: string;
  readonly manifests: () => Manifest[];
  readonly agent: AgentExpectation;
  readonly quarantineRbac: boolean;
  readonly certManager: boolean;
  /** DaemonSets expected (one, or one per listed node). */
  readonly daemonSets: number;
}

const defaults: AgentExpectation = { ebpf: true, quarantine: true, tlsFromHostPath: true };
const cases: Case[] = [
  {
    name: 'plain manifests',
    manifests: plainManifests,
    agent: defaults,
    quarantineRbac: true,
    certManager: true,
    daemonSets: 1,
  },
  {
    name: 'helm: default values',
    manifests: () => renderChart({}, 'default values'),
    agent: defaults,
    quarantineRbac: true,
    certManager: false,
    daemonSets: 1,
  },
  {
    name: 'helm: cert-manager with per-node secrets',
    manifests: () =>
      renderChart(
        {
          certManager: { enabled: true },
          agent: { tls: { mode: 'nodeSecrets', nodes: ['worker-1', 'worker-2.zone-a'] } },
          // A wildcard name starts with '*', a YAML alias unless the chart quotes it.
          collector: { extraDnsNames: ['*.vigil.example.com'] },
        },
        'cert-manager, nodeSecrets',
      ),
    agent: { ...defaults, tlsFromHostPath: false },
    quarantineRbac: true,
    certManager: true,
    daemonSets: 2,
  },
  {
    name: 'helm: no quarantine, no eBPF, no RBAC, extra rules, restricted egress',
    manifests: () =>
      renderChart(
        {
          agent: {
            quarantine: { enabled: false },
            // The default sources ("ebpf:"): the chart must leave the sensor out by itself.
            ebpf: { enabled: false },
            extraRules: { 'site.yaml': '- list: site_shells\n  items: [bash]\n' },
            runtimeSocketDir: '/run/containerd',
          },
          collector: {
            quarantineRbac: false,
            persistence: { enabled: false },
            networkPolicy: { egress: { enabled: true, apiServerCidrs: ['10.96.0.1/32'] } },
          },
        },
        'minimal privileges',
      ),
    agent: { ebpf: false, quarantine: false, tlsFromHostPath: true },
    quarantineRbac: false,
    certManager: false,
    daemonSets: 1,
  },
  {
    name: 'helm: eBPF without quarantine, cert-manager with an existing issuer',
    manifests: () =>
      renderChart(
        {
          agent: { quarantine: { enabled: false }, image: { digest: 'sha256:' + 'a'.repeat(64) } },
          certManager: {
            enabled: true,
            createCA: false,
            issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
          },
        },
        'eBPF only',
      ),
    agent: { ebpf: true, quarantine: false, tlsFromHostPath: true },
    quarantineRbac: true,
    certManager: true,
    daemonSets: 1,
  },
];

describe('deployment manifests and Helm chart (offline validation)', function () {
  this.timeout(60_000);
  const documented = documentedPrivileges();

  it('deploy/README.md documents the capabilities and host paths the checks use', () => {
    assert.deepEqual([...documented.capabilities].sort(), [
      'BPF',
      'NET_ADMIN',
      'PERFMON',
      'SYS_ADMIN',
      'SYS_PTRACE',
    ]);
    assert.deepEqual([...documented.hostPaths.keys()].sort(), [
      '/etc/vigil/agent-tls',
      '/run/containerd',
      '/sys/fs/cgroup',
      '/sys/kernel/tracing',
      '/var/lib/vigil/agent',
    ]);
  });

  it('helm lint passes (default values and per-node secrets)', () => {
    const out = helm(['lint', '--strict', chartDir]);
    assert.match(out, /0 chart\(s\) failed/);
    helm([
      'lint',
      chartDir,
      '--set',
      'agent.tls.mode=nodeSecrets',
      '--set',
      'agent.tls.nodes={n1}',
      '--set',
      'certManager.enabled=true',
    ]);
  });

  it('NOTES.txt renders in both certificate modes', () => {
    // helm template does not render NOTES.txt: render it through tpl from a copy of the chart.
    const dir = mkdtempSync(join(tmpdir(), 'vigil-notes-'));
    try {
      cpSync(chartDir, join(dir, 'vigil'), { recursive: true });
      copyFileSync(join(chartDir, 'templates', 'NOTES.txt'), join(dir, 'vigil', 'notes.txt'));
      writeFileSync(
        join(dir, 'vigil', 'templates', 'zz-notes.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n{{ tpl (.Files.Get "notes.txt") . | indent 4 }}\n',
      );
      const render = (...set: string[]): string =>
        String(
          obj(
            parseManifests(
              helm([
                'template',
                'vigil',
                join(dir, 'vigil'),
                '-n',
                'vigil',
                '--show-only',
                'templates/zz-notes.yaml',
                ...set.flatMap((x) => ['--set', x]),
              ]),
              'NOTES',
            )[0]?.doc['data'],
          )['notes'],
        );
      const plain = render();
      assert.match(plain, /kubectl label namespace vigil pod-security.kubernetes.io\/enforce=privileged/);
      assert.match(plain, /certificate at \/etc\/vigil\/agent-tls/);
      assert.match(plain, /tokens create --name admin --role admin/);
      const perNode = render(
        'certManager.enabled=true',
        'agent.tls.mode=nodeSecrets',
        'agent.tls.nodes={a,b}',
      );
      assert.match(perNode, /one per listed node \(a, b\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('collector.persistence.storageClassName: a name is kept, "-" means no class', () => {
    const pvcClass = (storageClassName: string): unknown =>
      at(
        renderChart({ collector: { persistence: { storageClassName } } }, `class ${storageClassName}`).find(
          (m) => kindOf(m) === 'PersistentVolumeClaim',
        )?.doc,
        'spec.storageClassName',
      );
    assert.equal(pvcClass('fast-ssd'), 'fast-ssd');
    assert.equal(pvcClass('-'), '');
    assert.equal(pvcClass(''), undefined);
  });

  it('helm refuses bad choices with a clear message', () => {
    assert.throws(
      () => renderChart({ agent: { tls: { mode: 'shared' } } }, 'bad mode'),
      /agent.tls.mode must be hostPath or nodeSecrets/,
    );
    assert.throws(
      () => renderChart({ agent: { tls: { mode: 'nodeSecrets', nodes: [] } } }, 'no nodes'),
      /agent.tls.nodes must list the nodes/,
    );
    assert.throws(
      () =>
        renderChart({ collector: { networkPolicy: { egress: { enabled: true } } } }, 'egress without cidrs'),
      /apiServerCidrs is required/,
    );
    assert.throws(
      () =>
        renderChart({ agent: { tls: { mode: 'nodeSecrets', nodes: ['n'.repeat(60)] } } }, 'long node name'),
      /longer than 63 characters/,
    );
    assert.throws(
      () => renderChart({ certManager: { enabled: true, createCA: false } }, 'no issuer'),
      /certManager.issuerRef is required when certManager.createCA is false/,
    );
  });

  for (const c of cases) {
    describe(c.name, () => {
      let all: Manifest[] = [];
      before(() => {
        all = c.manifests();
        assert.ok(all.length > 5, `${c.name}: only ${all.length} documents`);
      });

      it('every document validates against its schema', async () => {
        let builtIn = 0;
        let custom = 0;
        for (const m of all) {
          if (m.doc['apiVersion'] === CERT_MANAGER_API) {
            assert.deepEqual(validateCertManager(m), []);
            custom++;
          } else {
            await validateSchema(m);
            builtIn++;
          }
        }
        assert.ok(builtIn >= 9, `only ${builtIn} built-in objects`);
        assert.equal(custom > 0, c.certManager, 'cert-manager resources present exactly when enabled');
      });

      it('names are unique per kind and namespace', () => {
        const keys = all.map((m) => `${kindOf(m)}/${String(at(m.doc, 'metadata.namespace'))}/${nameOf(m)}`);
        assert.deepEqual(
          keys.filter((k, i) => keys.indexOf(k) !== i),
          [],
        );
      });

      it('the agent DaemonSet asks for exactly the documented privileges', () => {
        const daemonSets = all.filter((m) => kindOf(m) === 'DaemonSet');
        assert.equal(daemonSets.length, c.daemonSets);
        for (const ds of daemonSets) assert.deepEqual(agentProblems(ds, c.agent, documented), []);
      });

      it('the collector runs unprivileged, with exactly the quarantine RBAC and a NetworkPolicy', () => {
        const deployments = all.filter((m) => kindOf(m) === 'Deployment');
        assert.equal(deployments.length, 1);
        assert.deepEqual(collectorProblems(deployments[0] as Manifest), []);
        assert.deepEqual(rbacProblems(all, c.quarantineRbac), []);
        assert.deepEqual(networkPolicyProblems(all), []);
        const sa = all.find((m) => kindOf(m) === 'ServiceAccount' && nameOf(m).endsWith('-agent'));
        assert.equal(
          sa?.doc['automountServiceAccountToken'],
          false,
          'the agent ServiceAccount mounts no token',
        );
      });

      it('the ConfigMaps hold configuration that Vigil loads, wired to the mounts and the Service', () => {
        const cms = all.filter((m) => kindOf(m) === 'ConfigMap');
        const agentText = cms.map((m) => obj(m.doc['data'])['agent.yaml']).find((t) => typeof t === 'string');
        const collectorText = cms
          .map((m) => obj(m.doc['data'])['collector.yaml'])
          .find((t) => typeof t === 'string');
        assert.equal(typeof agentText, 'string');
        assert.equal(typeof collectorText, 'string');
        const agent = loadAgentConfig({ name: 'agent.yaml', text: String(agentText) }, {}, undefined);
        const collector = loadCollectorConfig(
          { name: 'collector.yaml', text: String(collectorText) },
          {},
          undefined,
        );
        // Node-side quarantine is on exactly when the pod has the capabilities for it.
        assert.equal(agent.enforce.enabled, c.agent.quarantine);
        // The eBPF source is configured exactly when the pod has the capabilities and tracefs for it.
        assert.equal(
          agent.sources.some((s) => s.startsWith('ebpf:')),
          c.agent.ebpf,
          `sources ${agent.sources.join(', ')}`,
        );
        // The collector uses the Kubernetes API exactly when it has the RBAC for it.
        assert.equal(collector.response.kubernetes.mode, c.quarantineRbac ? 'in-cluster' : 'off');
        // The agent dials the collector's Service, on the port the Service exposes as grpc.
        const svc = all.find((m) => kindOf(m) === 'Service');
        const grpc = arr(at(svc?.doc, 'spec.ports'))
          .map(obj)
          .find((p) => p['name'] === 'grpc');
        assert.equal(
          agent.collector.address,
          `${nameOf(svc as Manifest)}.${String(at(svc?.doc, 'metadata.namespace'))}.svc:${String(grpc?.['port'])}`,
        );
        assert.equal(collector.grpc.listen, `0.0.0.0:${String(grpc?.['port'])}`);
        // Every file the configurations name is under a mount of the pod that reads it.
        const mountsOf = (kind: string): string[] =>
          all
            .filter((m) => kindOf(m) === kind)
            .flatMap((m) =>
              arr(at(m.doc, 'spec.template.spec.containers')).flatMap((x) => arr(obj(x)['volumeMounts'])),
            )
            .map((v) => String(obj(v)['mountPath']));
        const under = (path: string, mounts: string[]): boolean =>
          mounts.some((mp) => path.startsWith(mp + '/') || path === mp);
        const agentMounts = mountsOf('DaemonSet');
        for (const f of [agent.collector.ca, agent.collector.cert, agent.collector.key, agent.data_dir])
          assert.ok(under(f, agentMounts), `agent: ${f} is on no mount`);
        const collectorMounts = mountsOf('Deployment');
        for (const f of [collector.tls.ca, collector.tls.cert, collector.tls.key, collector.data_dir])
          assert.ok(under(f, collectorMounts), `collector: ${f} is on no mount`);
        // The --config argument points into the config mount.
        for (const kind of ['DaemonSet', 'Deployment']) {
          for (const m of all.filter((x) => kindOf(x) === kind)) {
            const container = obj(arr(at(m.doc, 'spec.template.spec.containers'))[0]);
            const config = String(arr(container['args'])[1]);
            assert.ok(
              under(config, kind === 'DaemonSet' ? agentMounts : collectorMounts),
              `${kind}: ${config} is on no mount`,
            );
          }
        }
        // The agent's metrics listen on the container port the probes and Prometheus use.
        const port = arr(at(all.find((m) => kindOf(m) === 'DaemonSet')?.doc, 'spec.template.spec.containers'))
          .flatMap((x) => arr(obj(x)['ports']).map(obj))
          .find((p) => p['name'] === 'metrics');
        assert.equal(agent.http.listen, `0.0.0.0:${String(port?.['containerPort'])}`);
      });

      if (c.certManager) {
        it('cert-manager: the collector certificate covers the Service names; one agent certificate per node', () => {
          const certs = all.filter((m) => kindOf(m) === 'Certificate');
          const svc = all.find((m) => kindOf(m) === 'Service') as Manifest;
          const ns = String(at(svc.doc, 'metadata.namespace'));
          const collectorCert = certs.find((m) => arr(at(m.doc, 'spec.usages')).includes('server auth'));
          const names = arr(at(collectorCert?.doc, 'spec.dnsNames'));
          for (const n of [nameOf(svc), `${nameOf(svc)}.${ns}.svc`, `${nameOf(svc)}.${ns}.svc.cluster.local`])
            assert.ok(names.includes(n), `the collector certificate lacks ${n}`);
          const deployment = all.find((m) => kindOf(m) === 'Deployment') as Manifest;
          const secret = arr(at(deployment.doc, 'spec.template.spec.volumes'))
            .map(obj)
            .find((v) => v['name'] === 'tls');
          assert.equal(at(secret, 'secret.secretName'), at(collectorCert?.doc, 'spec.secretName'));
          // Per-node DaemonSets mount exactly the Secret of the node they are pinned to.
          for (const ds of all.filter((m) => kindOf(m) === 'DaemonSet')) {
            const tls = arr(at(ds.doc, 'spec.template.spec.volumes'))
              .map(obj)
              .find((v) => v['name'] === 'tls');
            if (tls?.['secret'] === undefined) continue;
            const terms = arr(
              at(
                ds.doc,
                'spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms',
              ),
            );
            const pinned = String(arr(obj(arr(obj(terms[0])['matchFields'])[0])['values'])[0]);
            const cert = certs.find((m) => at(m.doc, 'spec.secretName') === at(tls, 'secret.secretName'));
            assert.ok(
              cert !== undefined,
              `${nameOf(ds)}: no Certificate makes ${String(at(tls, 'secret.secretName'))}`,
            );
            assert.deepEqual(at(cert.doc, 'spec.uris'), [`urn:vigil:node:${pinned}`]);
          }
        });
      }
    });
  }

  describe('the checks catch what they are for', () => {
    const base = (): Manifest[] => renderChart({}, 'default values');
    const mutate = (
      all: Manifest[],
      kind: string,
      change: (doc: Record<string, unknown>) => void,
    ): Manifest[] =>
      all.map((m) => {
        if (kindOf(m) !== kind) return m;
        const doc = structuredClone(m.doc);
        change(doc);
        return { source: m.source, doc };
      });
    const agentSc = (doc: Record<string, unknown>): Record<string, unknown> =>
      obj(obj(arr(at(doc, 'spec.template.spec.containers'))[0])['securityContext']);
    const podSpec = (doc: Record<string, unknown>): Record<string, unknown> =>
      obj(at(doc, 'spec.template.spec'));
    const ds = (all: Manifest[]): Manifest => all.find((m) => kindOf(m) === 'DaemonSet') as Manifest;
    const agentCase = (change: (doc: Record<string, unknown>) => void): string[] =>
      agentProblems(ds(mutate(base(), 'DaemonSet', change)), defaults, documented);

    it('agent: privileged, an extra capability, a lost drop ALL, a writable root, hostNetwork, a new hostPath', () => {
      assert.match(
        agentCase((d) => (agentSc(d)['privileged'] = true)).join('\n'),
        /privileged must be false/,
      );
      assert.match(
        agentCase((d) => arr(obj(agentSc(d)['capabilities'])['add']).push('SYS_MODULE')).join('\n'),
        /capabilities.add must be .* SYS_MODULE[\s\S]*not documented/,
      );
      assert.match(
        agentCase((d) => (obj(agentSc(d)['capabilities'])['drop'] = [])).join('\n'),
        /drop must be \[ALL\]/,
      );
      assert.match(
        agentCase((d) => (agentSc(d)['readOnlyRootFilesystem'] = false)).join('\n'),
        /readOnlyRootFilesystem/,
      );
      assert.match(agentCase((d) => (podSpec(d)['hostNetwork'] = true)).join('\n'), /hostNetwork/);
      assert.match(agentCase((d) => (podSpec(d)['hostPID'] = false)).join('\n'), /hostPID/);
      assert.match(
        agentCase((d) => (podSpec(d)['tolerations'] = [{ key: 'a', operator: 'Exists' }])).join('\n'),
        /tolerations/,
      );
      assert.match(
        agentCase((d) => arr(podSpec(d)['volumes']).push({ name: 'root', hostPath: { path: '/' } })).join(
          '\n',
        ),
        /hostPath \/ is not documented/,
      );
      assert.match(
        agentCase((d) => {
          for (const v of arr(obj(arr(podSpec(d)['containers'])[0])['volumeMounts']).map(obj))
            if (v['name'] === 'runtime') v['readOnly'] = false;
        }).join('\n'),
        /\/run\/containerd must be mounted read-only/,
      );
      // Quarantine off: SYS_ADMIN and NET_ADMIN are then too much.
      assert.match(
        agentProblems(ds(base()), { ...defaults, quarantine: false }, documented).join('\n'),
        /capabilities.add must be \[BPF, PERFMON, SYS_PTRACE\]/,
      );
    });

    it('collector: root, a capability, privilege escalation; RBAC: an extra verb or resource; no NetworkPolicy', () => {
      const dep = (change: (doc: Record<string, unknown>) => void): string[] =>
        collectorProblems(
          mutate(base(), 'Deployment', change).find((m) => kindOf(m) === 'Deployment') as Manifest,
        );
      const sc = (doc: Record<string, unknown>): Record<string, unknown> =>
        obj(obj(arr(at(doc, 'spec.template.spec.containers'))[0])['securityContext']);
      assert.match(
        dep((d) => (obj(podSpec(d)['securityContext'])['runAsUser'] = 0)).join('\n'),
        /non-zero runAsUser/,
      );
      assert.match(
        dep((d) => (obj(sc(d)['capabilities'])['add'] = ['NET_RAW'])).join('\n'),
        /no capabilities may be added/,
      );
      assert.match(
        dep((d) => (sc(d)['allowPrivilegeEscalation'] = true)).join('\n'),
        /allowPrivilegeEscalation/,
      );
      assert.match(
        dep((d) => (d['spec'] = { ...obj(d['spec']), replicas: 2 })).join('\n'),
        /replicas must be 1/,
      );
      const rbac = (change: (doc: Record<string, unknown>) => void): string[] =>
        rbacProblems(mutate(base(), 'ClusterRole', change), true);
      assert.match(
        rbac((d) => arr(obj(arr(d['rules'])[0])['verbs']).push('watch')).join('\n'),
        /expected exactly/,
      );
      assert.match(
        rbac((d) => arr(d['rules']).push({ apiGroups: [''], resources: ['secrets'], verbs: ['get'] })).join(
          '\n',
        ),
        /secrets/,
      );
      assert.match(rbacProblems(base(), false).join('\n'), /no RBAC expected/);
      assert.match(
        networkPolicyProblems(base().filter((m) => kindOf(m) !== 'NetworkPolicy')).join('\n'),
        /expected one NetworkPolicy/,
      );
      assert.match(
        networkPolicyProblems(
          mutate(base(), 'NetworkPolicy', (d) => {
            obj(arr(at(d, 'spec.ingress'))[0])['from'] = [{ namespaceSelector: {} }];
          }),
        ).join('\n'),
        /gRPC port must admit the agents' pods only/,
      );
    });

    it('schemas and cert-manager structure: wrong types and unknown fields are refused', async () => {
      const broken = mutate(base(), 'DaemonSet', (d) => (obj(d['spec'])['minReadySeconds'] = 'soon'));
      await assert.rejects(validateSchema(ds(broken)), /fails the apps\/v1 DaemonSet schema/);
      const noContainers = mutate(base(), 'Deployment', (d) => (podSpec(d)['containers'] = 'none'));
      await assert.rejects(
        validateSchema(noContainers.find((m) => kindOf(m) === 'Deployment') as Manifest),
        /schema/,
      );
      await assert.rejects(
        validateSchema({ source: 'x', doc: { apiVersion: 'example.com/v1', kind: 'Widget' } }),
        /no schema/,
      );
      // Unknown (misspelt) fields, which the compiled schemas alone would let through.
      const typo = mutate(base(), 'DaemonSet', (d) => {
        podSpec(d)['hostPid'] = true;
        obj(arr(podSpec(d)['containers'])[0])['securityContxt'] = {};
      });
      await assert.rejects(
        validateSchema(ds(typo)),
        /does not have: \/spec\/template\/spec\/containers\/0\/securityContxt, \/spec\/template\/spec\/hostPid$/,
      );
      const cert = renderChart({ certManager: { enabled: true } }, 'cert-manager').find(
        (m) => kindOf(m) === 'Certificate' && nameOf(m).endsWith('-collector'),
      ) as Manifest;
      const bad = structuredClone(cert.doc);
      obj(bad['spec'])['usages'] = ['server auth', 'world domination'];
      obj(bad['spec'])['dnsName'] = ['typo'];
      assert.deepEqual(
        validateCertManager({ source: 'x', doc: bad }).map((p) => p.replace(/^x: Certificate\/[^:]+: /, '')),
        ['spec.dnsName is not a Certificate field', 'spec.usages: unknown usage world domination'],
      );
    });
  });
});

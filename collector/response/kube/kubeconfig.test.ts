import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeconfigError, loadKubeconfig, parseKubeconfig } from './kubeconfig.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A kubeconfig with two clusters, three users and three contexts. */
const CONFIG = `
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod-cluster
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: ${b64(CA)}
    tls-server-name: kubernetes.default
- name: lab-cluster
  cluster:
    server: https://lab.example:6443
    insecure-skip-tls-verify: true
users:
- name: prod-admin
  user:
    client-certificate-data: ${b64(CA)}
    client-key-data: ${b64(KEY)}
- name: lab-token
  user:
    token: abc.def
- name: lab-basic
  user:
    username: admin
    password: s3cret
contexts:
- name: prod
  context:
    cluster: prod-cluster
    user: prod-admin
    namespace: payments
- name: lab
  context:
    cluster: lab-cluster
    user: lab-token
- name: lab-basic
  context:
    cluster: lab-cluster
    user: lab-basic
`;

function expectError(text: string, message: string, context?: string): void {
  assert.throws(
    () => parseKubeconfig(text, { path: '/etc/vigil/kubeconfig', ...(context !== undefined && { context }) }),
    (e: unknown) =>
      e instanceof KubeconfigError && e.message === `kubeconfig /etc/vigil/kubeconfig: ${message}`,
  );
}

describe('kubeconfig', function () {
  let dir: string;
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'vigil-kubeconfig-'));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('resolves the current context: server, CA data, client certificate data, namespace', function () {
    const t = parseKubeconfig(CONFIG, { path: '/etc/vigil/kubeconfig' });
    assert.deepEqual(t, {
      context: 'prod',
      server: 'https://10.0.0.1:6443',
      namespace: 'payments',
      caPem: CA,
      tlsServerName: 'kubernetes.default',
      insecureSkipTlsVerify: false,
      clientCertPem: CA,
      clientKeyPem: KEY,
    });
  });

  it('resolves a named context: token, insecure-skip-tls-verify, basic authentication', function () {
    assert.deepEqual(parseKubeconfig(CONFIG, { path: 'k', context: 'lab' }), {
      context: 'lab',
      server: 'https://lab.example:6443',
      insecureSkipTlsVerify: true,
      token: 'abc.def',
    });
    const basic = parseKubeconfig(CONFIG, { path: 'k', context: 'lab-basic' });
    assert.equal(basic.username, 'admin');
    assert.equal(basic.password, 's3cret');
  });

  it('reads certificate files relative to the kubeconfig and resolves tokenFile', function () {
    mkdirSync(join(dir, 'pki'));
    writeFileSync(join(dir, 'pki', 'ca.crt'), CA);
    writeFileSync(join(dir, 'pki', 'me.crt'), CA);
    writeFileSync(join(dir, 'pki', 'me.key'), KEY);
    const path = join(dir, 'config');
    writeFileSync(
      path,
      `current-context: c
contexts: [{ name: c, context: { cluster: k, user: u } }]
clusters: [{ name: k, cluster: { server: "https://k:6443", certificate-authority: pki/ca.crt } }]
users: [{ name: u, user: { client-certificate: pki/me.crt, client-key: ${join(dir, 'pki', 'me.key')}, tokenFile: token } }]
`,
    );
    const t = loadKubeconfig(path);
    assert.equal(t.caPem, CA);
    assert.equal(t.clientCertPem, CA);
    assert.equal(t.clientKeyPem, KEY);
    assert.equal(t.tokenFile, join(dir, 'token'));
  });

  it('names the file and the key in every error', function () {
    assert.throws(
      () => parseKubeconfig('clusters: [', { path: '/etc/vigil/kubeconfig' }),
      /^KubeconfigError: kubeconfig \/etc\/vigil\/kubeconfig: not valid YAML: Flow sequence .* at line 1, column 12/s,
    );
    expectError('- a\n- b\n', 'expected a mapping with clusters, users and contexts at the top');
    expectError('clusters: []\n', 'no current-context is set and no context was given');
    expectError(CONFIG, 'context "staging" is not in contexts (there: prod, lab, lab-basic)', 'staging');
    expectError(
      'current-context: c\ncontexts: [{ name: c, context: { cluster: k } }]\n',
      'clusters: missing, so cluster "k" is not there',
    );
    expectError(
      'current-context: c\ncontexts: [{ name: c, context: { user: u } }]\n',
      'contexts[0].context ("c").cluster: missing',
    );
    const base = 'current-context: c\ncontexts: [{ name: c, context: { cluster: k, user: u } }]\n';
    expectError(
      base +
        'clusters: [{ name: k, cluster: { server: "kube.local:6443" } }]\nusers: [{ name: u, user: {} }]\n',
      'clusters[0].cluster ("k").server: "kube.local:6443" must be an http or https URL',
    );
    const cluster = 'clusters: [{ name: k, cluster: { server: "https://k" } }]\n';
    const noUser = 'users: [{ name: u, user: {} }]\n';
    expectError(base + cluster, 'users: missing, so user "u" is not there');
    expectError(
      base + cluster + `users: [{ name: u, user: { client-certificate-data: ${b64(CA)} } }]\n`,
      'users[0].user ("u") has client-certificate but no client-key(-data)',
    );
    expectError(
      base + cluster + 'users: [{ name: u, user: { client-key-data: "not base64!" } }]\n',
      'users[0].user ("u").client-key-data: not valid base64',
    );
    expectError(
      base + cluster + `users: [{ name: u, user: { client-key-data: ${b64('hello')} } }]\n`,
      'users[0].user ("u").client-key-data: does not decode to PEM',
    );
    expectError(
      base + cluster + 'users: [{ name: u, user: { exec: { command: aws } } }]\n',
      'users[0].user ("u").exec: credential plugins are not supported; give the user a token or a client certificate',
    );
    expectError(
      base + cluster + 'users: [{ name: u, user: { username: admin } }]\n',
      'users[0].user ("u") needs both username and password for basic authentication',
    );
    expectError(
      base +
        'clusters: [{ name: k, cluster: { server: "https://k", certificate-authority: /nonexistent/ca.crt } }]\n' +
        noUser,
      'clusters[0].cluster ("k").certificate-authority: cannot read /nonexistent/ca.crt: ' +
        "ENOENT: no such file or directory, open '/nonexistent/ca.crt'",
    );
    expectError(
      base +
        'clusters: [{ name: k, cluster: { server: "https://k", insecure-skip-tls-verify: "yes" } }]\n' +
        noUser,
      'clusters[0].cluster ("k").insecure-skip-tls-verify: expected true or false',
    );
    assert.throws(
      () => loadKubeconfig(join(dir, 'missing')),
      new RegExp(`cannot read kubeconfig ${join(dir, 'missing')}`),
    );
  });
});

import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { startTestApi, type TestApi } from '../../collector/api/api-harness.test.js';
import {
  podAlert,
  podHolder,
  startResponseHarness,
  type ResponseHarness,
} from '../../collector/response/response-harness.test.js';
import type { Quarantine } from '../../collector/response/quarantine-store.js';
import { main } from '../main.js';

async function vigil(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await main(args, { stdin: new PassThrough(), stdout, stderr });
  return { code, out, err };
}

describe('vigil quarantine, release, quarantines, audit (against a real API)', function () {
  this.timeout(20_000);
  let h: ResponseHarness;
  let t: TestApi;
  let target: string[];

  before(async () => {
    h = await startResponseHarness({ commandTimeoutMs: 500 });
    t = await startTestApi({ routes: h.response.routes });
    await h.agent('node-1', podHolder(['shop/web-1', 'shop/web-2']));
    h.store.insertAlerts([podAlert('alert-9', 'shop', 'web-2')], h.clock.now);
    target = ['--collector', t.base];
  });
  after(async () => {
    await t.close();
    await h.close();
  });

  it('explains a missing token, a refused token and a weak role', async () => {
    const none = await vigil(['quarantines', ...target]);
    assert.equal(none.code, 1);
    assert.match(
      none.err,
      /the collector wants a token to list quarantines: pass --token or set VIGIL_TOKEN/,
    );
    const bogus = await vigil(['quarantines', ...target, '--token', 'vgl_' + 'x'.repeat(43)]);
    assert.equal(bogus.code, 1);
    assert.match(bogus.err, /refused the token .* unknown, revoked or expired/);
    const viewer = await vigil([
      'quarantine',
      'web-1',
      '-n',
      'shop',
      '--reason',
      'r',
      ...target,
      '--token',
      t.token.viewer,
    ]);
    assert.equal(viewer.code, 1);
    assert.match(
      viewer.err,
      /not allowed to quarantine shop\/web-1: token 'viewer-token' has role viewer; this needs responder/,
    );
    // A port that was free a moment ago: nothing listens there.
    const spare = createServer();
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
    const port = (spare.address() as AddressInfo).port;
    await new Promise((r) => spare.close(r));
    const down = await vigil([
      'quarantines',
      '--collector',
      `http://127.0.0.1:${port}`,
      '--token',
      t.token.viewer,
    ]);
    assert.equal(down.code, 1);
    assert.match(
      down.err,
      new RegExp(`cannot reach the collector at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`),
    );
  });

  it('refuses bad usage with exit code 2', async () => {
    const noReason = await vigil(['quarantine', 'web-1', '-n', 'shop', ...target]);
    assert.equal(noReason.code, 2);
    assert.match(noReason.err, /--reason is required/);
    const noNamespace = await vigil(['quarantine', 'web-1', '--reason', 'r', ...target]);
    assert.equal(noNamespace.code, 2);
    assert.match(noNamespace.err, /--namespace is required with POD/);
    const notAnId = await vigil(['release', 'web-1', '--reason', 'r', ...target]);
    assert.equal(notAnId.code, 2);
    assert.match(notAnId.err, /'web-1' is not a quarantine id .* add --namespace/);
    assert.equal((await vigil(['audit', 'check'])).code, 2);
  });

  it('quarantines, lists, releases by pod, and lists the audit log', async () => {
    const token = ['--token', t.token.responder];
    const q1 = await vigil([
      'quarantine',
      'web-1',
      '--namespace',
      'shop',
      '--reason',
      'reverse shell',
      '--freeze',
      ...target,
      ...token,
    ]);
    assert.equal(q1.code, 0, q1.err);
    assert.match(
      q1.out,
      /^q-\S+ {2}shop\/web-1 {2}active {2}on node node-1\n {2}kubernetes: skipped .*\n {2}node: {7}applied \(node node-1: cut shop\/web-1\)\n {2}by token:responder-token at \S+: reverse shell\n$/,
    );
    const again = await vigil([
      'quarantine',
      'web-1',
      '--namespace',
      'shop',
      '--reason',
      'again',
      ...target,
      ...token,
    ]);
    assert.equal(again.code, 0);
    assert.match(again.err, /already quarantined/);

    const fromAlert = await vigil([
      'quarantine',
      '--alert',
      'alert-9',
      '--reason',
      'triage',
      '--keep-established',
      '--json',
      ...target,
      ...token,
    ]);
    assert.equal(fromAlert.code, 0, fromAlert.err);
    const q2 = JSON.parse(fromAlert.out) as Quarantine;
    assert.equal(q2.pod, 'web-2');
    assert.equal(q2.alertId, 'alert-9');
    assert.equal(q2.cutEstablished, false);

    const list = await vigil(['quarantines', ...target, '--token', t.token.viewer]);
    assert.equal(list.code, 0);
    const lines = list.out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^ID\s+POD\s+STATE\s+LAYERS\s+NODE\s+SINCE\s+BY\s+REASON$/);
    assert.equal(lines.length, 3);
    assert.match(list.out, /shop\/web-1\s+active\s+kubernetes skipped, node applied\s+node-1/);

    const released = await vigil([
      'release',
      'web-1',
      '--namespace',
      'shop',
      '--reason',
      'cleared',
      ...target,
      ...token,
    ]);
    assert.equal(released.code, 0, released.err);
    assert.match(released.out, /shop\/web-1 {2}released/);
    assert.match(released.out, /released \S+: cleared/);
    const noneLeft = await vigil([
      'release',
      'web-1',
      '--namespace',
      'shop',
      '--reason',
      'again',
      ...target,
      ...token,
    ]);
    assert.equal(noneLeft.code, 1);
    assert.match(noneLeft.err, /has no open quarantine/);

    const open = await vigil(['quarantines', '--json', ...target, '--token', t.token.viewer]);
    assert.deepEqual(
      (JSON.parse(open.out) as Quarantine[]).map((q) => q.pod),
      ['web-2'],
    );
    const all = await vigil(['quarantines', '--all', '--json', ...target, '--token', t.token.viewer]);
    assert.equal((JSON.parse(all.out) as Quarantine[]).length, 2);

    const audit = await vigil(['audit', 'list', '--limit', '4', ...target, '--token', t.token.viewer]);
    assert.equal(audit.code, 0, audit.err);
    assert.match(audit.out, /^SEQ\s+TIME\s+ACTOR\s+ACTION/);
    assert.match(audit.out, /release\.completed/);
    assert.match(audit.err, /older records: --before \d+/);
    const verify = await vigil(['audit', 'verify', ...target, '--token', t.token.viewer]);
    assert.equal(verify.code, 0);
    assert.match(verify.out, new RegExp(`audit log intact: ${h.response.audit.count()} records`));
  });

  it('audit verify --store reads the file, and reports a broken chain with exit code 1', async () => {
    const path = h.db.name;
    const ok = await vigil(['audit', 'verify', '--store', path, '--json']);
    assert.equal(ok.code, 0, ok.err);
    assert.equal((JSON.parse(ok.out) as { ok: boolean }).ok, true);
    assert.equal((await vigil(['audit', 'verify', '--store', path, '--token', 'x'])).code, 2);
    assert.match((await vigil(['audit', 'verify', '--store', '/nonexistent/c.db'])).err, /no such file/);
    // Tamper with record 2 (the trigger dropped first, as someone with the file could).
    h.db.exec('DROP TRIGGER audit_log_no_update');
    h.db.prepare("UPDATE audit_log SET actor = 'token:nobody' WHERE seq = 2").run();
    const broken = await vigil(['audit', 'verify', '--store', path]);
    assert.equal(broken.code, 1);
    assert.match(broken.out, /audit log BROKEN at record 2: the record does not hash to its stored hash/);
    const viaApi = await vigil(['audit', 'verify', ...target, '--token', t.token.viewer]);
    assert.equal(viaApi.code, 1);
    assert.match(viaApi.out, /BROKEN at record 2/);
  });
});

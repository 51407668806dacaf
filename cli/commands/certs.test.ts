import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { nodeIdentityOfCertificate } from '../../collector/certs/node-identity.js';
import { UsageError, type CliIO } from '../command.js';
import { certsCommand } from './certs.js';

function io(): { io: CliIO; out: () => string } {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { io: { stdin: new PassThrough(), stdout, stderr: new PassThrough() }, out: () => text };
}

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('vigil certs', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'vigil-certs-')), 'pki');
  });
  afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

  it('init writes the CA and the collector identity; agent writes a node identity; keys are 0600', async () => {
    const a = io();
    assert.equal(
      await certsCommand.run(
        ['init', '--dir', dir, '--san', 'vigil.example.com', '--san', '10.0.0.5', '--namespace', 'sec'],
        a.io,
      ),
      0,
    );
    assert.match(a.out(), /wrote .*ca\.crt/);
    const b = io();
    assert.equal(
      await certsCommand.run(['agent', '--dir', dir, '--node', 'worker-3', '--days', '10'], b.io),
      0,
    );

    assert.equal(mode(join(dir, 'ca.key')), 0o600);
    assert.equal(mode(join(dir, 'collector', 'tls.key')), 0o600);
    assert.equal(mode(join(dir, 'agents', 'worker-3', 'tls.key')), 0o600);
    assert.equal(mode(join(dir, 'agents', 'worker-3', 'tls.crt')), 0o644);
    assert.equal(mode(dir), 0o700);

    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    const server = new X509Certificate(readFileSync(join(dir, 'collector', 'tls.crt')));
    const agent = new X509Certificate(readFileSync(join(dir, 'agents', 'worker-3', 'tls.crt')));
    assert.ok(server.verify(ca.publicKey) && agent.verify(ca.publicKey));
    assert.equal(
      readFileSync(join(dir, 'agents', 'worker-3', 'ca.crt'), 'utf8'),
      readFileSync(join(dir, 'ca.crt'), 'utf8'),
    );
    assert.equal(server.checkHost('vigil-collector.sec.svc'), 'vigil-collector.sec.svc');
    assert.equal(server.checkHost('vigil.example.com'), 'vigil.example.com');
    assert.equal(server.checkIP('10.0.0.5'), '10.0.0.5');
    assert.deepEqual(nodeIdentityOfCertificate(agent.raw), {
      ok: true,
      node: 'worker-3',
      commonName: 'worker-3',
    });
    const days = (new Date(agent.validTo).getTime() - new Date(agent.validFrom).getTime()) / 86_400_000;
    assert.ok(Math.abs(days - 10) < 0.01, `validity ${days} days`);
  });

  it('replaces nothing without --force, and everything with it', async () => {
    await certsCommand.run(['init', '--dir', dir], io().io);
    const before = readFileSync(join(dir, 'ca.key'), 'utf8');
    await assert.rejects(
      async () => certsCommand.run(['init', '--dir', dir], io().io),
      /ca\.key exists already; pass --force/,
    );
    assert.equal(readFileSync(join(dir, 'ca.key'), 'utf8'), before);
    await certsCommand.run(['agent', '--dir', dir, '--node', 'n1'], io().io);
    await assert.rejects(
      async () => certsCommand.run(['agent', '--dir', dir, '--node', 'n1'], io().io),
      /exists already/,
    );
    assert.equal(await certsCommand.run(['init', '--dir', dir, '--force'], io().io), 0);
    assert.notEqual(readFileSync(join(dir, 'ca.key'), 'utf8'), before);
    assert.equal(mode(join(dir, 'ca.key')), 0o600);
  });

  it('explains what is missing or wrong', async () => {
    await assert.rejects(
      async () => certsCommand.run(['agent', '--dir', dir, '--node', 'n1'], io().io),
      /run 'vigil certs init --dir/,
    );
    await assert.rejects(async () => certsCommand.run(['init'], io().io), UsageError);
    await assert.rejects(
      async () => certsCommand.run(['agent', '--dir', dir], io().io),
      /--node is required/,
    );
    await assert.rejects(
      async () => certsCommand.run(['renew', '--dir', dir], io().io),
      /unknown subcommand: renew/,
    );
    await assert.rejects(
      async () => certsCommand.run(['init', '--dir', dir, '--days', 'ten'], io().io),
      /--days must be a positive integer/,
    );
    await assert.rejects(
      async () => certsCommand.run(['init', '--dir', dir, '--san', 'bad name!'], io().io),
      /not a DNS name/,
    );
    await certsCommand.run(['init', '--dir', dir], io().io);
    await assert.rejects(
      async () => certsCommand.run(['agent', '--dir', dir, '--node', 'Bad_Node'], io().io),
      /not a valid node name/,
    );
  });
});

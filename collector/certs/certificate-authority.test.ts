import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import {
  createCertificateAuthority,
  defaultCollectorNames,
  issueAgentCertificate,
  issueCollectorCertificate,
  type PemPair,
} from './certificate-authority.js';
import { nodeIdentityOfCertificate } from './node-identity.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** Handshakes over loopback with `client` against a server requiring client certificates. */
async function handshake(
  server: PemPair,
  ca: string,
  client: PemPair,
): Promise<{ authorized: boolean; error: string | undefined; peerCn: string | undefined }> {
  const srv = tls.createServer({
    cert: server.certPem,
    key: server.keyPem,
    ca,
    requestCert: true,
    rejectUnauthorized: false,
  });
  const seen = new Promise<{ authorized: boolean; error: string | undefined; peerCn: string | undefined }>(
    (resolve) => {
      srv.on('secureConnection', (socket) => {
        const cn = socket.getPeerCertificate().subject?.CN;
        resolve({
          authorized: socket.authorized,
          error: socket.authorizationError?.toString(),
          peerCn: typeof cn === 'string' ? cn : undefined,
        });
        socket.end();
      });
    },
  );
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as AddressInfo).port;
  const socket = tls.connect({ host: '127.0.0.1', port, ca, cert: client.certPem, key: client.keyPem });
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect');
  assert.equal(
    socket.authorized,
    true,
    `the collector's certificate does not verify: ${String(socket.authorizationError)}`,
  );
  const result = await seen;
  socket.destroy();
  srv.close();
  return result;
}

describe('certificate authority', function () {
  this.timeout(30_000);
  const now = new Date('2025-01-15T10:00:00Z');
  let ca: PemPair;
  let caCert: X509Certificate;
  before(() => {
    ca = createCertificateAuthority({ now });
    caCert = new X509Certificate(ca.certPem);
  });

  it('creates a self-signed CA that signs leaves only, valid ten years', () => {
    assert.equal(caCert.ca, true);
    assert.ok(caCert.checkIssued(caCert));
    assert.ok(caCert.verify(caCert.publicKey));
    assert.equal(caCert.subject, 'CN=Vigil CA\nO=Vigil');
    assert.equal(new Date(caCert.validTo).getTime(), now.getTime() + 3650 * 86_400_000);
    assert.equal(new Date(caCert.validFrom).getTime(), now.getTime() - 5 * 60_000);
    assert.equal(caCert.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  });

  it('issues the collector a server certificate for its names', () => {
    const names = defaultCollectorNames('security');
    const pair = issueCollectorCertificate(ca, {
      ...names,
      dnsNames: [...names.dnsNames, 'vigil.example.com'],
      now,
    });
    const cert = new X509Certificate(pair.certPem);
    assert.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey));
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, [SERVER_AUTH]);
    for (const host of [
      'localhost',
      'vigil-collector',
      'vigil-collector.security.svc',
      'vigil-collector.security.svc.cluster.local',
      'vigil.example.com',
    ]) {
      assert.equal(cert.checkHost(host), host, host);
    }
    assert.equal(cert.checkHost('vigil-collector.other.svc'), undefined);
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(new Date(cert.validTo).getTime(), now.getTime() + 365 * 86_400_000);
    assert.equal(nodeIdentityOfCertificate(pair.certPem).ok, false, 'the collector cannot pass for an agent');
  });

  it('issues an agent a client certificate naming its node in the URI SAN and the CN', () => {
    const pair = issueAgentCertificate(ca, { node: 'ip-10-0-1-17.ec2.internal', validityDays: 30, now });
    const cert = new X509Certificate(pair.certPem);
    assert.ok(cert.verify(caCert.publicKey));
    assert.deepEqual(cert.keyUsage, [CLIENT_AUTH]);
    assert.equal(cert.subjectAltName, 'URI:urn:vigil:node:ip-10-0-1-17.ec2.internal');
    assert.equal(cert.subject, 'CN=ip-10-0-1-17.ec2.internal\nO=Vigil');
    assert.equal(new Date(cert.validTo).getTime(), now.getTime() + 30 * 86_400_000);
    assert.deepEqual(nodeIdentityOfCertificate(cert.raw), {
      ok: true,
      node: 'ip-10-0-1-17.ec2.internal',
      commonName: 'ip-10-0-1-17.ec2.internal',
    });
    // Serials are random: two certificates never share one.
    assert.notEqual(
      cert.serialNumber,
      new X509Certificate(issueAgentCertificate(ca, { node: 'n' }).certPem).serialNumber,
    );
  });

  it('mutual TLS works with them, and a client from another CA or with the server certificate is not authorized', async () => {
    const server = issueCollectorCertificate(ca, defaultCollectorNames('vigil'));
    const agent = issueAgentCertificate(ca, { node: 'node-1' });
    const ok = await handshake(server, ca.certPem, agent);
    assert.deepEqual(ok, { authorized: true, error: undefined, peerCn: 'node-1' });

    const other = createCertificateAuthority({ commonName: 'Other CA' });
    const foreign = await handshake(server, ca.certPem, issueAgentCertificate(other, { node: 'node-1' }));
    assert.equal(foreign.authorized, false);
    assert.match(foreign.error ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);

    // serverAuth only: OpenSSL will not accept it as a client certificate.
    const asClient = await handshake(server, ca.certPem, server);
    assert.equal(asClient.authorized, false);
    assert.match(asClient.error ?? '', /purpose/i);
  });

  it('refuses bad names and validity', () => {
    assert.throws(() => issueAgentCertificate(ca, { node: 'Node_1' }), /not a valid node name/);
    assert.throws(() => issueAgentCertificate(ca, { node: '' }), /not a valid node name/);
    assert.throws(
      () => issueCollectorCertificate(ca, { dnsNames: ['bad name'], ipAddresses: [] }),
      /not a DNS name/,
    );
    assert.throws(
      () => issueCollectorCertificate(ca, { dnsNames: [], ipAddresses: ['300.1.1.1'] }),
      /not an IP address/,
    );
    assert.throws(() => issueCollectorCertificate(ca, { dnsNames: [], ipAddresses: [] }), /at least one/);
    assert.throws(() => issueAgentCertificate(ca, { node: 'n', validityDays: 0 }), /positive number of days/);
    const leaf = issueAgentCertificate(ca, { node: 'n' });
    assert.throws(() => issueAgentCertificate(leaf, { node: 'm' }), /not a CA/);
  });
});

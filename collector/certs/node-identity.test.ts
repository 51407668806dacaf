import assert from 'node:assert/strict';
import forge from 'node-forge';
import { createCertificateAuthority } from './certificate-authority.js';
import { isValidNodeName, nodeIdentityOfCertificate, parseSubjectAltNames } from './node-identity.js';

/** A certificate with exactly the given SANs and CN, self-signed: what a careless issuer might make. */
function certificateWith(altNames: { type: number; value: string }[], cn: string): string {
  const keys = forge.pki.rsa.generateKeyPair(1024);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  cert.setIssuer([{ name: 'commonName', value: cn }]);
  if (altNames.length > 0) cert.setExtensions([{ name: 'subjectAltName', altNames }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

describe('node identity of a client certificate', function () {
  this.timeout(30_000);

  it('reads the node from the URI SAN, not from the CN', () => {
    const pem = certificateWith(
      [
        { type: 2, value: 'node-b' },
        { type: 6, value: 'urn:vigil:node:node-a' },
      ],
      'node-b',
    );
    assert.deepEqual(nodeIdentityOfCertificate(pem), { ok: true, node: 'node-a', commonName: 'node-b' });
  });

  it('refuses a certificate with no node SAN, several, or an invalid name', () => {
    const cnOnly = nodeIdentityOfCertificate(certificateWith([], 'node-a'));
    assert.deepEqual(cnOnly, {
      ok: false,
      reason: 'the client certificate names no node (no urn:vigil:node:<node> URI SAN)',
    });
    const two = nodeIdentityOfCertificate(
      certificateWith(
        [
          { type: 6, value: 'urn:vigil:node:a' },
          { type: 6, value: 'urn:vigil:node:b' },
        ],
        'a',
      ),
    );
    assert.equal(two.ok, false);
    assert.match(two.ok ? '' : two.reason, /several nodes \(a, b\)/);
    const upper = nodeIdentityOfCertificate(
      certificateWith([{ type: 6, value: 'urn:vigil:node:Node_A' }], 'x'),
    );
    assert.match(upper.ok ? '' : upper.reason, /invalid node name/);
    assert.match(
      (nodeIdentityOfCertificate(Buffer.from('not a certificate')) as { reason: string }).reason,
      /cannot be read/,
    );
  });

  it('is not fooled by a SAN that only contains the prefix', () => {
    const pem = certificateWith([{ type: 6, value: 'https://evil.example/urn:vigil:node:node-a' }], 'node-a');
    assert.equal(nodeIdentityOfCertificate(pem).ok, false);
  });

  it('splits SAN text, reading quoted values as JSON', () => {
    assert.deepEqual(parseSubjectAltNames('DNS:a.example, URI:"urn:x,y", IP Address:127.0.0.1'), [
      { type: 'DNS', value: 'a.example' },
      { type: 'URI', value: 'urn:x,y' },
      { type: 'IP Address', value: '127.0.0.1' },
    ]);
    assert.deepEqual(parseSubjectAltNames(''), []);
  });

  it('validates node names as DNS-1123 subdomains', () => {
    for (const ok of ['node-1', 'ip-10-0-1-17.ec2.internal', 'a', '0']) assert.ok(isValidNodeName(ok), ok);
    for (const bad of ['', 'Node', 'node_1', '-node', 'node-', 'a..b', 'x'.repeat(254)])
      assert.ok(!isValidNodeName(bad), bad);
    // The CA's own certificate is no agent's.
    assert.equal(nodeIdentityOfCertificate(createCertificateAuthority().certPem).ok, false);
  });
});

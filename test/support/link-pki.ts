/**
 * Certificates for tests of the agent <-> collector link, made with Vigil's own CA code: a CA,
 * the collector's certificate (localhost, 127.0.0.1, ::1), agent certificates for the nodes
 * asked for, and a second, unrelated CA with an agent certificate of its own (which the
 * collector must refuse). RSA key generation takes ~0.1 s each, so build one per suite.
 */
import {
  createCertificateAuthority,
  issueAgentCertificate,
  issueCollectorCertificate,
  type PemPair,
} from '../../collector/certs/certificate-authority.js';

/** TLS material as the ingest server and the shipper take it. */
export interface TestTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** A test PKI; see the module comment. */
export interface TestPki {
  readonly ca: PemPair;
  /** The collector's server identity. */
  readonly collector: TestTls;
  /** An agent's client identity, by node (issued on first use). */
  agent(node: string): TestTls;
  /** An agent identity for `node` signed by a different CA. */
  foreignAgent(node: string): TestTls;
}

/** Creates a test PKI. */
export function createTestPki(): TestPki {
  const ca = createCertificateAuthority({ commonName: 'Vigil test CA' });
  const server = issueCollectorCertificate(ca, {
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
  });
  let foreignCa: PemPair | undefined;
  const agents = new Map<string, TestTls>();
  return {
    ca,
    collector: { ca: ca.certPem, cert: server.certPem, key: server.keyPem },
    agent(node) {
      let tls = agents.get(node);
      if (tls === undefined) {
        const pair = issueAgentCertificate(ca, { node });
        tls = { ca: ca.certPem, cert: pair.certPem, key: pair.keyPem };
        agents.set(node, tls);
      }
      return tls;
    },
    foreignAgent(node) {
      foreignCa ??= createCertificateAuthority({ commonName: 'Somebody else' });
      const pair = issueAgentCertificate(foreignCa, { node });
      // The agent trusts the real CA (it can verify the collector); its own cert is foreign.
      return { ca: ca.certPem, cert: pair.certPem, key: pair.keyPem };
    },
  };
}

/**
 * Which node an agent's client certificate speaks for.
 *
 * The authoritative name is the certificate's URI subject alternative name
 * `urn:vigil:node:<node>`; there must be exactly one. The subject's common name carries the same
 * name for people reading the certificate (`openssl x509 -text`, logs) but decides nothing: SANs
 * are typed and unambiguous, and a CN is just as readily put on a server certificate. The
 * collector's own certificate, signed by the same CA, has no such SAN, so it cannot pass for an
 * agent.
 *
 * Parsing uses node:crypto's X509Certificate, which reads RSA and ECDSA certificates alike (so
 * certificates issued by cert-manager with ECDSA keys work too).
 */
import { X509Certificate } from 'node:crypto';

/** The URI SAN prefix that names a node: `urn:vigil:node:node-1`. */
export const NODE_URI_PREFIX = 'urn:vigil:node:';

const DNS_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const NODE_NAME = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*$`);

/**
 * True when `name` is a valid Kubernetes node name (a DNS-1123 subdomain: lower-case letters,
 * digits, `-` and `.`, at most 253 characters).
 */
export function isValidNodeName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && NODE_NAME.test(name);
}

/** The URI SAN naming `node`. */
export function nodeUri(node: string): string {
  return NODE_URI_PREFIX + node;
}

/** The node a certificate names, or why it names none. */
export type NodeIdentity =
  | { readonly ok: true; readonly node: string; readonly commonName: string | undefined }
  | { readonly ok: false; readonly reason: string };

/**
 * Splits node's `subjectAltName` text (`DNS:a, URI:b, IP Address:1.2.3.4`) into entries. Node
 * writes a value holding a comma or quote as a JSON string (`URI:"urn:x,y"`), so a quoted value
 * is read as JSON rather than split.
 */
export function parseSubjectAltNames(text: string): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon).trim();
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      // Find the closing quote that is not escaped.
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      end = text.indexOf(', ', j);
    } else {
      end = text.indexOf(', ', colon);
      value = text.slice(colon + 1, end < 0 ? text.length : end);
    }
    out.push({ type, value });
    if (end < 0) break;
    i = end + 2;
  }
  return out;
}

function commonNameOf(subject: string): string | undefined {
  for (const line of subject.split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return undefined;
}

/**
 * Reads the node name from an agent's client certificate (DER, as TLS hands it over, or PEM).
 *
 * @example nodeIdentityOfCertificate(peer.raw) // { ok: true, node: 'node-1', commonName: 'node-1' }
 */
export function nodeIdentityOfCertificate(certificate: Buffer | string): NodeIdentity {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certificate);
  } catch (err) {
    return { ok: false, reason: `the client certificate cannot be read (${(err as Error).message})` };
  }
  const nodes = parseSubjectAltNames(cert.subjectAltName ?? '')
    .filter((san) => san.type === 'URI' && san.value.startsWith(NODE_URI_PREFIX))
    .map((san) => san.value.slice(NODE_URI_PREFIX.length));
  if (nodes.length === 0) {
    return {
      ok: false,
      reason: `the client certificate names no node (no ${NODE_URI_PREFIX}<node> URI SAN)`,
    };
  }
  if (nodes.length > 1) {
    return { ok: false, reason: `the client certificate names several nodes (${nodes.join(', ')})` };
  }
  const node = nodes[0] as string;
  if (!isValidNodeName(node)) {
    return { ok: false, reason: `the client certificate names an invalid node name ${JSON.stringify(node)}` };
  }
  return { ok: true, node, commonName: commonNameOf(cert.subject) };
}

/**
 * The on-disk layout `vigil certs` writes, shaped like Kubernetes TLS secrets so that each
 * folder can become one (`kubectl create secret generic vigil-collector-tls --from-file=DIR/collector`):
 *
 * ```
 * DIR/ca.crt  DIR/ca.key                       the CA (keep ca.key off the cluster)
 * DIR/collector/{tls.crt,tls.key,ca.crt}       the collector's server certificate
 * DIR/agents/<node>/{tls.crt,tls.key,ca.crt}   one client certificate per node
 * ```
 *
 * Keys are written with mode 0600 and their folders 0700. Existing files are never replaced
 * unless `force` is set: re-running `init` by mistake must not invalidate every agent.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createCertificateAuthority,
  issueAgentCertificate,
  issueCollectorCertificate,
  type CollectorNames,
  type PemPair,
} from './certificate-authority.js';
import { isValidNodeName } from './node-identity.js';

/** The three files of a TLS identity: the CA to trust, the certificate and its key. */
export interface TlsPaths {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** The CA's files in `dir`. */
export function caPaths(dir: string): { readonly cert: string; readonly key: string } {
  return { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
}

/** The collector's files in `dir`. */
export function collectorTlsPaths(dir: string): TlsPaths {
  const sub = join(dir, 'collector');
  return { ca: join(sub, 'ca.crt'), cert: join(sub, 'tls.crt'), key: join(sub, 'tls.key') };
}

/** The files of `node`'s agent in `dir`. */
export function agentTlsPaths(dir: string, node: string): TlsPaths {
  const sub = join(dir, 'agents', node);
  return { ca: join(sub, 'ca.crt'), cert: join(sub, 'tls.crt'), key: join(sub, 'tls.key') };
}

/** Options shared by the writers. */
export interface WriteOptions {
  /** Replace existing files. */
  readonly force?: boolean;
  /** Validity of the leaf certificates in days (default 365). */
  readonly validityDays?: number;
  readonly now?: Date;
}

/** Options of {@link initCertificateDirectory}. */
export interface InitOptions extends WriteOptions, CollectorNames {
  /** Validity of the CA in days (default 3650). */
  readonly caValidityDays?: number;
}

/** The TLS material itself, as the ingest server and the shipper take it. */
export interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

function writeFile(path: string, text: string, mode: number, force: boolean): void {
  try {
    // 'wx' fails when the file exists: no silent replacement of a key in use.
    writeFileSync(path, text, { mode, flag: force ? 'w' : 'wx' });
    // The mode of an existing file is not changed by writeFileSync.
    if (force) chmodSync(path, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new Error(`${path} exists already; pass --force to replace it`, { cause: err });
    }
    throw new Error(`cannot write ${path}`, { cause: err });
  }
}

function writeIdentity(paths: TlsPaths, caPem: string, pair: PemPair, force: boolean): string[] {
  writeFile(paths.key, pair.keyPem, 0o600, force);
  writeFile(paths.cert, pair.certPem, 0o644, force);
  writeFile(paths.ca, caPem, 0o644, force);
  return [paths.cert, paths.key, paths.ca];
}

function makeDir(path: string): void {
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new Error(`cannot create ${path}`, { cause: err });
  }
}

/** Reads the CA of `dir`. */
export function readCertificateAuthority(dir: string): PemPair {
  const paths = caPaths(dir);
  try {
    return { certPem: readFileSync(paths.cert, 'utf8'), keyPem: readFileSync(paths.key, 'utf8') };
  } catch (err) {
    throw new Error(`cannot read the CA in ${dir} (run 'vigil certs init --dir ${dir}' first)`, {
      cause: err,
    });
  }
}

/**
 * Creates the CA and the collector's certificate in `dir`. Returns the files written.
 *
 * @example initCertificateDirectory('/etc/vigil/pki', defaultCollectorNames('vigil'))
 */
export function initCertificateDirectory(dir: string, options: InitOptions): string[] {
  // Issue everything before writing anything, so a bad name leaves no half-made directory.
  const ca = createCertificateAuthority({
    ...(options.caValidityDays !== undefined ? { validityDays: options.caValidityDays } : {}),
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
  const collector = issueCollectorCertificate(ca, {
    dnsNames: options.dnsNames,
    ipAddresses: options.ipAddresses,
    ...(options.validityDays !== undefined ? { validityDays: options.validityDays } : {}),
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
  const force = options.force ?? false;
  makeDir(dir);
  const caFiles = caPaths(dir);
  const collectorPaths = collectorTlsPaths(dir);
  makeDir(join(dir, 'collector'));
  writeFile(caFiles.key, ca.keyPem, 0o600, force);
  writeFile(caFiles.cert, ca.certPem, 0o644, force);
  return [caFiles.cert, caFiles.key, ...writeIdentity(collectorPaths, ca.certPem, collector, force)];
}

/** Issues `node`'s agent certificate with the CA in `dir`. Returns the files written. */
export function issueAgentFiles(dir: string, node: string, options: WriteOptions = {}): string[] {
  if (!isValidNodeName(node)) throw new Error(`${JSON.stringify(node)} is not a valid node name`);
  const ca = readCertificateAuthority(dir);
  const pair = issueAgentCertificate(ca, {
    node,
    ...(options.validityDays !== undefined ? { validityDays: options.validityDays } : {}),
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
  const paths = agentTlsPaths(dir, node);
  makeDir(join(dir, 'agents', node));
  return writeIdentity(paths, ca.certPem, pair, options.force ?? false);
}

/** Reads the three files of a TLS identity, naming the one that fails. */
export function readTlsMaterial(paths: TlsPaths): TlsMaterial {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read the ${what} at ${path}`, { cause: err });
    }
  };
  return {
    ca: read('CA certificate', paths.ca),
    cert: read('certificate', paths.cert),
    key: read('private key', paths.key),
  };
}

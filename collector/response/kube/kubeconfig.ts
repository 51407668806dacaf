/**
 * Reads a kubeconfig file (the format `kubectl` uses) into what the collector needs to reach one
 * API server: the server URL, the TLS trust and client identity, and the credentials of the
 * chosen context (`current-context`, or a context named by the caller).
 *
 * Supported: `server`, `certificate-authority(-data)`, `insecure-skip-tls-verify`,
 * `tls-server-name`; `client-certificate(-data)` with `client-key(-data)`, `token`, `tokenFile`,
 * `username`/`password`. Relative file paths are relative to the kubeconfig's folder, as kubectl
 * reads them. Credential plugins (`exec`, `auth-provider`) and proxies are refused with an error
 * that says so, rather than connecting without the credentials the user meant to use.
 *
 * Every error is a {@link KubeconfigError} naming the file and the key at fault.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';

/** A kubeconfig that cannot be used, with the file and the key at fault in the message. */
export class KubeconfigError extends Error {
  override readonly name = 'KubeconfigError';
}

/** The API server and credentials one kubeconfig context names. */
export interface KubeconfigTarget {
  /** The context used. */
  readonly context: string;
  /** The server's base URL (`https://host:port`, possibly with a path prefix). */
  readonly server: string;
  /** The namespace the context names, if any. */
  readonly namespace?: string;
  /** PEM bundle to trust for the server, instead of the system's. */
  readonly caPem?: string;
  readonly insecureSkipTlsVerify: boolean;
  /** The name to expect in the server's certificate, when it differs from the URL's host. */
  readonly tlsServerName?: string;
  /** Client certificate and key (PEM), for x509 authentication. */
  readonly clientCertPem?: string;
  readonly clientKeyPem?: string;
  /** A bearer token given inline. */
  readonly token?: string;
  /** A file holding the bearer token, re-read when it changes (absolute path). */
  readonly tokenFile?: string;
  /** Basic authentication. */
  readonly username?: string;
  readonly password?: string;
}

/**
 * Reads and resolves the kubeconfig at `path`, using `context` or else its `current-context`.
 * Files the kubeconfig refers to are read now, so a missing CA or key fails here, naming it.
 *
 * @example const target = loadKubeconfig('/home/me/.kube/config', 'prod-admin');
 */
export function loadKubeconfig(path: string, context?: string): KubeconfigTarget {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubeconfigError(`cannot read kubeconfig ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseKubeconfig(text, { path, ...(context !== undefined && { context }) });
}

/** Options of {@link parseKubeconfig}. */
export interface ParseKubeconfigOptions {
  /** The file the text came from: named in errors, and the base of relative paths. */
  readonly path: string;
  /** The context to use instead of `current-context`. */
  readonly context?: string;
}

type YamlMap = Record<string, unknown>;

function isMap(v: unknown): v is YamlMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Resolves kubeconfig `text`; see {@link loadKubeconfig}. */
export function parseKubeconfig(text: string, options: ParseKubeconfigOptions): KubeconfigTarget {
  const file = options.path;
  const fail = (message: string): never => {
    throw new KubeconfigError(`kubeconfig ${file}: ${message}`);
  };
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${file}: not valid YAML: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!isMap(doc)) return fail('expected a mapping with clusters, users and contexts at the top');

  const contextName = options.context ?? optionalString(doc, 'current-context', 'current-context', fail);
  if (contextName === undefined || contextName === '') {
    return fail('no current-context is set and no context was given');
  }
  const context = named(doc, 'contexts', 'context', contextName, fail);
  const clusterName = requiredString(context.value, 'cluster', `${context.where}.cluster`, fail);
  const cluster = named(doc, 'clusters', 'cluster', clusterName, fail);
  const userName = optionalString(context.value, 'user', `${context.where}.user`, fail);
  const user: { value: YamlMap; where: string } =
    userName === undefined || userName === ''
      ? { value: {}, where: '' }
      : named(doc, 'users', 'user', userName, fail);
  const namespace = optionalString(context.value, 'namespace', `${context.where}.namespace`, fail);

  const c = cluster.value;
  const cw = cluster.where;
  const server = requiredString(c, 'server', `${cw}.server`, fail);
  let serverUrl: URL;
  try {
    serverUrl = new URL(server);
  } catch {
    return fail(`${cw}.server: ${JSON.stringify(server)} is not a URL`);
  }
  if (serverUrl.protocol !== 'https:' && serverUrl.protocol !== 'http:') {
    return fail(`${cw}.server: ${JSON.stringify(server)} must be an http or https URL`);
  }
  if (c['proxy-url'] !== undefined) {
    return fail(`${cw}.proxy-url: connecting through a proxy is not supported`);
  }
  const insecure = c['insecure-skip-tls-verify'];
  if (insecure !== undefined && typeof insecure !== 'boolean') {
    return fail(`${cw}.insecure-skip-tls-verify: expected true or false`);
  }
  const caPem = pemFrom(c, 'certificate-authority', cw, file, fail);
  const tlsServerName = optionalString(c, 'tls-server-name', `${cw}.tls-server-name`, fail);

  const u = user.value;
  const uw = user.where;
  if (u['exec'] !== undefined) {
    return fail(
      `${uw}.exec: credential plugins are not supported; give the user a token or a client certificate`,
    );
  }
  if (u['auth-provider'] !== undefined) {
    return fail(
      `${uw}.auth-provider: auth providers are not supported; give the user a token or a client certificate`,
    );
  }
  const clientCertPem = pemFrom(u, 'client-certificate', uw, file, fail);
  const clientKeyPem = pemFrom(u, 'client-key', uw, file, fail);
  if ((clientCertPem === undefined) !== (clientKeyPem === undefined)) {
    return fail(
      clientCertPem === undefined
        ? `${uw} has client-key but no client-certificate(-data)`
        : `${uw} has client-certificate but no client-key(-data)`,
    );
  }
  const token = optionalString(u, 'token', `${uw}.token`, fail);
  const tokenFileRaw = optionalString(u, 'tokenFile', `${uw}.tokenFile`, fail);
  const username = optionalString(u, 'username', `${uw}.username`, fail);
  const password = optionalString(u, 'password', `${uw}.password`, fail);
  if ((username === undefined) !== (password === undefined)) {
    return fail(`${uw} needs both username and password for basic authentication`);
  }
  return {
    context: contextName,
    server: server.replace(/\/+$/, ''),
    insecureSkipTlsVerify: insecure === true,
    ...(namespace !== undefined && namespace !== '' && { namespace }),
    ...(caPem !== undefined && { caPem }),
    ...(tlsServerName !== undefined && tlsServerName !== '' && { tlsServerName }),
    ...(clientCertPem !== undefined && { clientCertPem }),
    ...(clientKeyPem !== undefined && { clientKeyPem }),
    ...(token !== undefined && token !== '' && { token }),
    ...(tokenFileRaw !== undefined && tokenFileRaw !== '' && { tokenFile: relativeTo(file, tokenFileRaw) }),
    ...(username !== undefined && { username }),
    ...(password !== undefined && { password }),
  };
}

/** Finds `{ name, <field>: {...} }` in the list `doc[list]`; `where` names it for messages. */
function named(
  doc: YamlMap,
  list: string,
  field: string,
  name: string,
  fail: (m: string) => never,
): { value: YamlMap; where: string } {
  const entries = doc[list];
  if (entries === undefined || entries === null)
    return fail(`${list}: missing, so ${field} "${name}" is not there`);
  if (!Array.isArray(entries)) return fail(`${list}: expected a list`);
  const names: string[] = [];
  for (const [i, entry] of entries.entries()) {
    if (!isMap(entry)) return fail(`${list}[${i}]: expected a mapping with name and ${field}`);
    const n = entry['name'];
    if (typeof n !== 'string') return fail(`${list}[${i}].name: missing or not a string`);
    names.push(n);
    if (n !== name) continue;
    const value = entry[field];
    if (!isMap(value)) return fail(`${list}[${i}].${field}: missing or not a mapping (${field} "${name}")`);
    return { value, where: `${list}[${i}].${field} ("${name}")` };
  }
  return fail(
    `${field} "${name}" is not in ${list}` +
      (names.length > 0 ? ` (there: ${names.join(', ')})` : ' (it is empty)'),
  );
}

function optionalString(
  m: YamlMap,
  key: string,
  where: string,
  fail: (m: string) => never,
): string | undefined {
  const v = m[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return fail(`${where}: expected a string`);
  return v;
}

function requiredString(m: YamlMap, key: string, where: string, fail: (m: string) => never): string {
  const v = optionalString(m, key, where, fail);
  if (v === undefined || v === '') return fail(`${where}: missing`);
  return v;
}

/**
 * The PEM text of `<key>-data` (base64, inline) or `<key>` (a file), or undefined when neither is
 * set. `-data` wins when both are, as in kubectl.
 */
function pemFrom(
  m: YamlMap,
  key: string,
  where: string,
  file: string,
  fail: (m: string) => never,
): string | undefined {
  const data = optionalString(m, `${key}-data`, `${where}.${key}-data`, fail);
  if (data !== undefined && data !== '') {
    const compact = data.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
      return fail(`${where}.${key}-data: not valid base64`);
    }
    const pem = Buffer.from(compact, 'base64').toString('utf8');
    if (!pem.includes('-----BEGIN ')) return fail(`${where}.${key}-data: does not decode to PEM`);
    return pem;
  }
  const path = optionalString(m, key, `${where}.${key}`, fail);
  if (path === undefined || path === '') return undefined;
  const full = relativeTo(file, path);
  let pem: string;
  try {
    pem = readFileSync(full, 'utf8');
  } catch (err) {
    return fail(`${where}.${key}: cannot read ${full}: ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN ')) return fail(`${where}.${key}: ${full} is not PEM`);
  return pem;
}

function relativeTo(kubeconfig: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(kubeconfig), path);
}

/**
 * What the collector output tests share: real receivers on 127.0.0.1 (HTTP, HTTPS, UDP, TCP and
 * TLS syslog, a server that never answers), a self-signed certificate made with node-forge, a
 * manual clock, and sample alerts. (Named `.test.ts` so that it stays test code; it declares no
 * tests itself.)
 */
import { generateKeyPairSync } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import forge from 'node-forge';
import type { Alert } from '../../core/alert.js';
import type { PriorityName } from '../../core/priority.js';
import type { Clock } from './clock.js';

/** A complete alert for output tests; `n` makes id and output unique. */
export function sampleAlert(n: number, priority: PriorityName = 'Warning', output?: string): Alert {
  return {
    time: '2024-05-01T12:00:00.123456789Z',
    rule: 'Terminal shell in container',
    priority,
    output:
      output ??
      `12:00:00.123456789: ${priority} A shell was spawned in a container (user=root shell=bash n=${n} container_id=5f6c4e2a1b3d)`,
    output_fields: {
      'evt.time': 1714564800123456800,
      'proc.name': 'bash',
      'proc.cmdline': 'bash -il',
      'user.name': 'root',
      'container.id': '5f6c4e2a1b3d',
      'k8s.ns.name': 'shop',
      'k8s.pod.name': 'web-7d9c',
    },
    source: 'syscall',
    tags: ['container', 'mitre_execution', 'shell'],
    hostname: 'node-1',
    id: `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`,
    kind: 'signature',
    node: 'node-1',
    workload: { namespace: 'shop', pod: 'web-7d9c', container: 'web', image: 'nginx:1.27' },
  };
}

/** Polls `check` until it returns true, or fails after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A clock that moves only when told; timers fire in time order as it passes them. */
export class ManualClock implements Clock {
  private ms: number;
  private timers: { at: number; fn: () => void; seq: number }[] = [];
  private seq = 0;
  /** Every delay scheduled, in order (what a retry waited). */
  readonly scheduled: number[] = [];

  constructor(start = 1_714_564_800_000) {
    this.ms = start;
  }

  now(): number {
    return this.ms;
  }

  schedule(fn: () => void, ms: number): () => void {
    const timer = { at: this.ms + ms, fn, seq: this.seq++ };
    this.scheduled.push(ms);
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Timers waiting. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing due timers (and letting promises settle between them). */
  async advance(ms: number): Promise<void> {
    const end = this.ms + ms;
    for (;;) {
      await flushMicrotasks();
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.ms = due.at;
      due.fn();
    }
    this.ms = end;
    await flushMicrotasks();
  }
}

/** Lets every pending promise continuation run. */
export async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

/** A certificate and key for `localhost` and 127.0.0.1, self-signed, PEM. */
export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
}

let cached: TestCertificate | undefined;

/**
 * Makes a self-signed certificate valid for `localhost` and 127.0.0.1 (node:crypto makes keys
 * but not certificates; node-forge signs). Cached: one per test run.
 */
export function selfSignedCertificate(): TestCertificate {
  if (cached !== undefined) return cached;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = '01' + Date.now().toString(16);
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  const name = [{ name: 'commonName', value: 'localhost' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
      ],
    },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  cached = { cert: forge.pki.certificateToPem(cert), key: privateKey };
  return cached;
}

/** One request an HTTP receiver got. */
export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** The status it was answered with. */
  readonly status: number;
}

/** How an HTTP receiver answers the request numbered `n` (0-based). */
export type HttpPolicy = (
  n: number,
  req: { method: string; body: string },
) => { status: number; headers?: Record<string, string>; body?: string } | 'hang';

/** An HTTP(S) server on 127.0.0.1 that records every request. */
export interface HttpReceiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  policy: HttpPolicy;
  close(): Promise<void>;
}

/** Starts an HTTP receiver (HTTPS with `tls`); by default it answers 200 to everything. */
export async function startHttpReceiver(tls?: TestCertificate): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  let count = 0;
  const receiver: HttpReceiver = {
    url: '',
    requests,
    policy: () => ({ status: 200, body: 'ok' }),
    close: () => Promise.resolve(),
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const answer = receiver.policy(count++, { method: req.method ?? '', body });
      if (answer === 'hang') return;
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        status: answer.status,
      });
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? '');
    });
  };
  const server: HttpServer = tls === undefined ? createHttpServer(handler) : createHttpsServer(tls, handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return Object.assign(receiver, {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}/hook`,
    close: () => closeServer(server),
  });
}

/** Closes a server and every connection it still has. */
export async function closeServer(server: HttpServer | Server): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A syslog receiver: the messages it got, unframed, as bytes. */
export interface SyslogReceiver {
  readonly port: number;
  readonly messages: Buffer[];
  /** TCP/TLS only: connections accepted so far. */
  readonly connections: number;
  /** TCP/TLS only: cuts every open connection. */
  dropConnections(): void;
  close(): Promise<void>;
}

/** A UDP syslog receiver on 127.0.0.1: one message per datagram. */
export async function startUdpReceiver(): Promise<SyslogReceiver> {
  const socket = createSocket('udp4');
  const messages: Buffer[] = [];
  socket.on('message', (msg) => messages.push(msg));
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    port: socket.address().port,
    messages,
    connections: 0,
    dropConnections: () => undefined,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/**
 * Splits an RFC 6587 octet-counted stream into messages; returns the messages and the bytes of
 * an incomplete last frame. Throws on a frame that does not start with `MSG-LEN SP`.
 */
export function unframeOctetCounted(buffer: Buffer): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  let at = 0;
  for (;;) {
    const space = buffer.indexOf(0x20, at);
    if (space === -1) break;
    const lengthText = buffer.subarray(at, space).toString('ascii');
    if (!/^[1-9]\d*$/.test(lengthText))
      throw new Error(`bad octet-counting frame: ${JSON.stringify(lengthText)}`);
    const length = Number(lengthText);
    if (buffer.length < space + 1 + length) break;
    messages.push(buffer.subarray(space + 1, space + 1 + length));
    at = space + 1 + length;
  }
  return { messages, rest: buffer.subarray(at) };
}

/** A TCP (or, with `tls`, TLS) syslog receiver on 127.0.0.1 reading octet-counted frames. */
export async function startStreamReceiver(tls?: TestCertificate): Promise<SyslogReceiver> {
  const messages: Buffer[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const onSocket = (socket: Socket): void => {
    connections++;
    sockets.add(socket);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      const { messages: got, rest } = unframeOctetCounted(Buffer.concat([pending, chunk]));
      messages.push(...got);
      pending = rest;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  const server = tls === undefined ? createTcpServer(onSocket) : createTlsServer(tls, onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    messages,
    get connections() {
      return connections;
    },
    dropConnections() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP server on 127.0.0.1 that accepts connections and never says anything. */
export async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createTcpServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

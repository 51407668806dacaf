/**
 * The `syslog` output: RFC 5424 messages (see syslog-message.ts) over UDP (RFC 5426, one message
 * per datagram), TCP (RFC 6587 octet-counting framing) or TLS (RFC 5425, the same framing).
 *
 * Stream transports keep one connection, opened on the first send. Any error, or the server
 * closing its side, drops the connection; the batch comes back `retryable`, and the next attempt
 * connects again — the retry decorator spaces the attempts. TCP carries no acknowledgement of
 * syslog messages, so a batch written just before the server died may be lost or, after a
 * retry, partly repeated; UDP may lose messages silently. Both are the nature of syslog.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Alert } from '../../core/alert.js';
import { bool, ConfigError, int, str, type Schema } from '../../core/config-schema.js';
import {
  abortedError,
  isAborted,
  sendFailure,
  sendRetryable,
  sendSuccess,
  type CollectorOutput,
  type SendOutcome,
} from './collector-output.js';
import { defineOutputType, readKeyFile, type OutputSettings } from './output-config.js';
import {
  formatSyslog,
  isPrivateSdId,
  octetCounted,
  SYSLOG_FACILITIES,
  type SyslogFormat,
} from './syslog-message.js';
import { duration } from '../../core/config-schema.js';

/** Messages per send: one write on a stream, a burst of datagrams on UDP. */
const MAX_BATCH = 100;

/** TLS settings for `protocol: tls`. */
export interface SyslogTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly rejectUnauthorized: boolean;
  /** The name to verify the certificate against (default: `host` when it is a name). */
  readonly serverName?: string;
}

/** Where and how to send. */
export interface SyslogOptions {
  readonly host: string;
  readonly port: number;
  readonly protocol: 'udp' | 'tcp' | 'tls';
  readonly format: SyslogFormat;
  /** The longest a connection or a write may take. */
  readonly timeoutMs: number;
  readonly tls?: SyslogTls;
}

/** Sends framed bytes; one implementation per protocol. */
interface SyslogTransport {
  send(messages: readonly Buffer[], signal?: AbortSignal): Promise<SendOutcome>;
  close(): void;
}

/**
 * Creates a bare syslog output (no retry; see {@link withRetry}).
 *
 * @example createSyslogOutput({ name: 'siem', minPriority: Priority.Notice, queueSize: 10_000 },
 *   { host: 'siem.example', port: 6514, protocol: 'tls', timeoutMs: 10_000, format, tls: { rejectUnauthorized: true } })
 */
export function createSyslogOutput(
  settings: Pick<OutputSettings, 'name' | 'minPriority' | 'queueSize'>,
  options: SyslogOptions,
): CollectorOutput {
  const transport: SyslogTransport =
    options.protocol === 'udp'
      ? new UdpTransport(settings.name, options)
      : new StreamTransport(settings.name, options);
  let closed = false;
  return {
    name: settings.name,
    type: 'syslog',
    minPriority: settings.minPriority,
    queueSize: settings.queueSize,
    maxBatch: MAX_BATCH,
    send(batch: readonly Alert[], signal?: AbortSignal): Promise<SendOutcome> {
      if (closed) return Promise.resolve(sendFailure(new Error(`output ${settings.name} is closed`)));
      if (batch.length === 0) return Promise.resolve(sendSuccess());
      return transport.send(
        batch.map((alert) => formatSyslog(alert, options.format)),
        signal,
      );
    },
    close() {
      closed = true;
      transport.close();
      return Promise.resolve();
    },
  };
}

/** One datagram per message, on one socket created on first use. */
class UdpTransport implements SyslogTransport {
  private socket: UdpSocket | undefined;

  constructor(
    private readonly output: string,
    private readonly options: SyslogOptions,
  ) {}

  async send(messages: readonly Buffer[], signal?: AbortSignal): Promise<SendOutcome> {
    const socket = this.open();
    const target = `udp://${this.options.host}:${this.options.port}`;
    try {
      for (const message of messages) {
        if (isAborted(signal)) return sendFailure(abortedError(this.output, signal));
        await new Promise<void>((resolve, reject) =>
          socket.send(message, this.options.port, this.options.host, (err) =>
            err === null ? resolve() : reject(err),
          ),
        );
      }
      return sendSuccess();
    } catch (err) {
      return sendRetryable(new Error(`output ${this.output}: cannot send to ${target}`, { cause: err }));
    }
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }

  private open(): UdpSocket {
    if (this.socket !== undefined) return this.socket;
    const socket = createSocket(isIP(this.options.host) === 6 ? 'udp6' : 'udp4');
    // An error on an unconnected socket (an ICMP report) concerns an earlier datagram: forget it.
    socket.on('error', () => undefined);
    socket.unref();
    this.socket = socket;
    return socket;
  }
}

/** One TCP or TLS connection with octet-counted frames; reconnects on the next send after any error. */
class StreamTransport implements SyslogTransport {
  private socket: Socket | undefined;
  private readonly target: string;

  constructor(
    private readonly output: string,
    private readonly options: SyslogOptions,
  ) {
    this.target = `${options.protocol}://${options.host}:${options.port}`;
  }

  async send(messages: readonly Buffer[], signal?: AbortSignal): Promise<SendOutcome> {
    if (isAborted(signal)) return sendFailure(abortedError(this.output, signal));
    let socket: Socket;
    try {
      socket = this.socket ?? (await this.connect(signal));
    } catch (err) {
      if (isAborted(signal)) return sendFailure(abortedError(this.output, signal));
      return sendRetryable(
        new Error(`output ${this.output}: cannot connect to ${this.target}`, { cause: err }),
      );
    }
    try {
      await this.write(socket, Buffer.concat(messages.map(octetCounted)), signal);
      return sendSuccess();
    } catch (err) {
      this.drop(socket);
      if (isAborted(signal)) return sendFailure(abortedError(this.output, signal));
      return sendRetryable(
        new Error(`output ${this.output}: cannot write to ${this.target}`, { cause: err }),
      );
    }
  }

  close(): void {
    if (this.socket !== undefined) this.drop(this.socket);
  }

  private drop(socket: Socket): void {
    if (this.socket === socket) this.socket = undefined;
    socket.destroy();
  }

  private connect(signal?: AbortSignal): Promise<Socket> {
    const { host, port, protocol, tls } = this.options;
    return new Promise<Socket>((resolve, reject) => {
      const socket =
        protocol === 'tls'
          ? tlsConnect({
              host,
              port,
              ...(tls?.serverName !== undefined
                ? { servername: tls.serverName }
                : isIP(host) === 0
                  ? { servername: host }
                  : {}),
              ...(tls?.ca !== undefined ? { ca: tls.ca } : {}),
              ...(tls?.cert !== undefined ? { cert: tls.cert } : {}),
              ...(tls?.key !== undefined ? { key: tls.key } : {}),
              rejectUnauthorized: tls?.rejectUnauthorized ?? true,
            })
          : tcpConnect({ host, port });
      const ready = protocol === 'tls' ? 'secureConnect' : 'connect';
      const fail = (err: Error): void => {
        cleanup();
        socket.destroy();
        reject(err);
      };
      const onAbort = (): void => fail(new Error('aborted'));
      const timer = setTimeout(
        () => fail(new Error(`no connection within ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
      timer.unref();
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('error', fail);
        socket.off(ready, onReady);
      };
      const onReady = (): void => {
        cleanup();
        // A syslog connection must not keep the collector alive on its own.
        socket.unref();
        socket.setNoDelay(true);
        // Whatever happens later — the server closing, a reset — the next send reconnects.
        socket.on('error', () => this.drop(socket));
        socket.on('end', () => this.drop(socket));
        socket.on('close', () => this.drop(socket));
        // Syslog servers do not talk back; discard anything they send so the buffer never fills.
        socket.on('data', () => undefined);
        this.socket = socket;
        resolve(socket);
      };
      socket.once('error', fail);
      socket.once(ready, onReady);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Resolves once `data` is handed to the kernel; rejects on error, timeout or abort. */
  private write(socket: Socket, data: Buffer, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: Error | null): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = (): void => finish(new Error('aborted'));
      const onClose = (): void => finish(new Error('the connection closed'));
      // A server that stops reading fills the window and the write never completes.
      const timer = setTimeout(
        () => finish(new Error(`write not done within ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('close', onClose);
      socket.write(data, (err) => finish(err));
    });
  }
}

/** A facility name (`local0`, `auth`, …) or code (0..23). */
function facilityKey(): Schema<number> {
  const expected = `a syslog facility (${Object.keys(SYSLOG_FACILITIES).join(', ')}, or 0 to 23)`;
  return {
    expected,
    parse(value, path, origin) {
      if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 23) return value;
      const code = typeof value === 'string' ? SYSLOG_FACILITIES[value.trim().toLowerCase()] : undefined;
      if (code === undefined) {
        throw new ConfigError(path.join('.'), origin(path), expected, JSON.stringify(value) ?? 'undefined');
      }
      return code;
    },
  };
}

/** A private SD-ID, `name@number`. */
function sdIdKey(): Schema<string> {
  const expected = 'a private SD-ID like name@32473 (1-32 printable characters, no =, space, ] or ")';
  return {
    expected,
    parse(value, path, origin) {
      if (typeof value !== 'string' || !isPrivateSdId(value)) {
        throw new ConfigError(path.join('.'), origin(path), expected, JSON.stringify(value) ?? 'undefined');
      }
      return value;
    },
  };
}

/** Registry entry: `type: syslog`. */
export const syslogOutputType = defineOutputType({
  type: 'syslog',
  description: 'RFC 5424 messages over UDP, TCP (RFC 6587 octet counting) or TLS (RFC 5425)',
  example: { type: 'syslog', name: 'siem', host: 'siem.example.com', protocol: 'tls', facility: 'local0' },
  shape: {
    host: str({ nonEmpty: true }),
    port: int(0, 65_535),
    protocol: str({ oneOf: ['udp', 'tcp', 'tls'] }),
    facility: facilityKey(),
    app_name: str({ nonEmpty: true }),
    sd_id: sdIdKey(),
    utf8_bom: bool(),
    max_message_bytes: int(480, 65_000),
    timeout: duration(),
    ca_file: str(),
    cert_file: str(),
    key_file: str(),
    server_name: str(),
    insecure_skip_verify: bool(),
  },
  defaults: {
    port: 0,
    protocol: 'tcp',
    facility: 'user',
    app_name: 'vigil',
    sd_id: 'vigil@32473',
    utf8_bom: true,
    max_message_bytes: 8192,
    timeout: '10s',
    ca_file: '',
    cert_file: '',
    key_file: '',
    server_name: '',
    insecure_skip_verify: false,
  },
  create(settings, o) {
    const protocol = o.protocol as 'udp' | 'tcp' | 'tls';
    const ca = readKeyFile(settings, 'ca_file', o.ca_file);
    const cert = readKeyFile(settings, 'cert_file', o.cert_file);
    const key = readKeyFile(settings, 'key_file', o.key_file);
    return createSyslogOutput(settings, {
      host: o.host,
      // 514 is syslog's port over UDP and TCP; 6514 is RFC 5425's for TLS.
      port: o.port !== 0 ? o.port : protocol === 'tls' ? 6514 : 514,
      protocol,
      timeoutMs: o.timeout,
      format: {
        facility: o.facility,
        appName: o.app_name,
        sdId: o.sd_id,
        bom: o.utf8_bom,
        maxBytes: o.max_message_bytes,
      },
      tls: {
        rejectUnauthorized: !o.insecure_skip_verify,
        ...(ca !== undefined ? { ca } : {}),
        ...(cert !== undefined ? { cert } : {}),
        ...(key !== undefined ? { key } : {}),
        ...(o.server_name !== '' ? { serverName: o.server_name } : {}),
      },
    });
  },
});

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { Alert } from '../../core/alert.js';
import { Priority, priorityNames } from '../../core/priority.js';
import {
  describeOutputConformance,
  type HarnessSettings,
  type ReceivedAlert,
} from './output-conformance.test.js';
import {
  closedPort,
  sampleAlert,
  selfSignedCertificate,
  startStreamReceiver,
  startUdpReceiver,
  unframeOctetCounted,
  waitFor,
  type SyslogReceiver,
} from './output-fixtures.test.js';
import { parseOutputEntry } from './registry.js';
import { withRetry } from './retrying-output.js';
import { formatSyslog, syslogTimestamp, type SyslogFormat } from './syslog-message.js';
import { createSyslogOutput, type SyslogOptions } from './syslog-output.js';

/** An RFC 5424 message taken apart. */
interface Syslog5424 {
  readonly pri: number;
  readonly facility: number;
  readonly severity: number;
  readonly version: number;
  readonly timestamp: string;
  readonly hostname: string;
  readonly appName: string;
  readonly procId: string;
  readonly msgId: string;
  readonly sd: readonly { readonly id: string; readonly params: Readonly<Record<string, string>> }[];
  readonly bom: boolean;
  readonly msg: string;
}

const PRINTUSASCII = /^[!-~]+$/;
const SD_NAME = /^[!-~]{1,32}$/;

/**
 * Parses `bytes` by RFC 5424's ABNF (section 6) and throws, saying which rule, at the first
 * violation. Deliberately independent of the formatter: written from the grammar, not the code.
 */
function parse5424(bytes: Buffer): Syslog5424 {
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  let at = 0;
  const fail = (rule: string): never => {
    throw new Error(`not RFC 5424 (${rule}) at ${at}: ${JSON.stringify(text.slice(0, 120))}`);
  };
  const token = (rule: string): string => {
    const end = text.indexOf(' ', at);
    if (end <= at) fail(`${rule} then SP`);
    const t = text.slice(at, end);
    at = end + 1;
    return t;
  };
  const header = /^<(0|[1-9]\d{0,2})>([1-9]\d{0,2}) /.exec(text) ?? fail('PRI VERSION SP');
  const pri = Number(header[1]);
  if (pri > 191) fail('PRIVAL <= 191');
  at = header[0].length;

  const timestamp = token('TIMESTAMP');
  if (timestamp !== '-') {
    const m =
      /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,6})?(Z|[+-](\d\d):(\d\d))$/.exec(timestamp) ??
      fail('FULL-DATE "T" FULL-TIME, at most 6 fraction digits');
    const [month = 0, day = 0, hour = 0, minute = 0, second = 0] = [m[2], m[3], m[4], m[5], m[6]].map(Number);
    if (!(month >= 1 && month <= 12 && day >= 1 && day <= 31)) fail('DATE-MONTH / DATE-MDAY range');
    if (!(hour <= 23 && minute <= 59 && second <= 59)) fail('TIME-HOUR / MINUTE / SECOND range');
  }
  const hostname = token('HOSTNAME');
  if (hostname !== '-' && (hostname.length > 255 || !PRINTUSASCII.test(hostname)))
    fail('HOSTNAME 1*255PRINTUSASCII');
  const appName = token('APP-NAME');
  if (appName !== '-' && (appName.length > 48 || !PRINTUSASCII.test(appName)))
    fail('APP-NAME 1*48PRINTUSASCII');
  const procId = token('PROCID');
  if (procId !== '-' && (procId.length > 128 || !PRINTUSASCII.test(procId))) fail('PROCID 1*128PRINTUSASCII');
  const msgId = token('MSGID');
  if (msgId !== '-' && (msgId.length > 32 || !PRINTUSASCII.test(msgId))) fail('MSGID 1*32PRINTUSASCII');

  const sd: { id: string; params: Record<string, string> }[] = [];
  if (text[at] === '-') {
    at++;
  } else {
    while (text[at] === '[') {
      at++;
      const idEnd = text.slice(at).search(/[ \]]/);
      if (idEnd <= 0) fail('SD-ID');
      const id = text.slice(at, at + idEnd);
      if (!SD_NAME.test(id) || /[="\]]/.test(id)) fail('SD-NAME');
      if (!id.includes('@') && !['timeQuality', 'origin', 'meta'].includes(id)) fail('private SD-ID needs @');
      at += idEnd;
      const params: Record<string, string> = {};
      while (text[at] === ' ') {
        at++;
        const eq = text.indexOf('=', at);
        const name = text.slice(at, eq);
        if (eq <= at || !SD_NAME.test(name) || /[ "\]]/.test(name)) fail('PARAM-NAME');
        at = eq + 1;
        if (text[at] !== '"') fail('%d34 before PARAM-VALUE');
        at++;
        let value = '';
        for (;;) {
          const c = text[at];
          if (c === undefined) fail('PARAM-VALUE not closed');
          if (c === '\\' && ['"', '\\', ']'].includes(text[at + 1] ?? '')) {
            value += text[at + 1];
            at += 2;
          } else if (c === ']') {
            fail('"]" in PARAM-VALUE must be escaped');
          } else if (c === '"') {
            at++;
            break;
          } else {
            value += c;
            at++;
          }
        }
        if (name in params) fail('PARAM-NAME repeated');
        params[name] = value;
      }
      if (text[at] !== ']') fail('"]" ending SD-ELEMENT');
      at++;
      sd.push({ id, params });
    }
    if (sd.length === 0) fail('STRUCTURED-DATA');
  }
  let msg = '';
  let bom = false;
  if (at < text.length) {
    if (text[at] !== ' ') fail('SP before MSG');
    msg = text.slice(at + 1);
    bom = msg.startsWith('\u{FEFF}');
    if (bom) msg = msg.slice(1);
  }
  return {
    pri,
    facility: Math.floor(pri / 8),
    severity: pri % 8,
    version: Number(header[2]),
    timestamp,
    hostname,
    appName,
    procId,
    msgId,
    sd,
    bom,
    msg,
  };
}

const FORMAT: SyslogFormat = {
  facility: 20,
  appName: 'vigil',
  sdId: 'vigil@32473',
  bom: true,
  maxBytes: 8192,
};

function options(
  port: number,
  protocol: SyslogOptions['protocol'],
  extra: Partial<SyslogOptions> = {},
): SyslogOptions {
  return { host: '127.0.0.1', port, protocol, format: FORMAT, timeoutMs: 2000, ...extra };
}

function decode(receiver: SyslogReceiver): ReceivedAlert[] {
  return receiver.messages.map((bytes) => {
    const m = parse5424(bytes);
    const params = m.sd[0]?.params ?? {};
    return {
      id: params['id'] ?? '?',
      rule: params['rule'] ?? '?',
      priority: params['priority'] ?? '?',
      output: m.msg,
    };
  });
}

const cert = (): ReturnType<typeof selfSignedCertificate> => selfSignedCertificate();

for (const protocol of ['udp', 'tcp', 'tls'] as const) {
  describeOutputConformance(
    'syslog',
    async () => {
      const tls = protocol === 'tls' ? cert() : undefined;
      const receiver = protocol === 'udp' ? await startUdpReceiver() : await startStreamReceiver(tls);
      const dead = await closedPort();
      const tlsOptions = tls === undefined ? {} : { tls: { ca: tls.cert, rejectUnauthorized: true } };
      return {
        create: (s: HarnessSettings) => createSyslogOutput(s, options(receiver.port, protocol, tlsOptions)),
        ...(protocol === 'udp'
          ? {}
          : {
              createUnreachable: (s: HarnessSettings) =>
                createSyslogOutput(s, options(dead, protocol, tlsOptions)),
            }),
        received: () => Promise.resolve(decode(receiver)),
        close: () => receiver.close(),
      };
    },
    protocol,
  );
}

describe('syslog messages (RFC 5424)', () => {
  it('parse back by the grammar with header, structured data and MSG as specified', () => {
    const alert = sampleAlert(42, 'Critical');
    const m = parse5424(formatSyslog(alert, FORMAT));
    assert.equal(m.version, 1);
    assert.equal(m.facility, 20, 'local4');
    assert.equal(m.severity, 2, 'Critical is syslog severity 2');
    assert.equal(
      m.timestamp,
      '2024-05-01T12:00:00.123456Z',
      'nanoseconds cut to the six digits RFC 5424 allows',
    );
    assert.equal(m.hostname, 'node-1');
    assert.equal(m.appName, 'vigil');
    assert.equal(m.procId, '-');
    assert.equal(m.msgId, 'signature');
    assert.deepEqual(m.sd, [
      {
        id: 'vigil@32473',
        params: {
          rule: alert.rule,
          priority: 'Critical',
          node: 'node-1',
          id: alert.id,
          kind: 'signature',
          source: 'syscall',
          namespace: 'shop',
          pod: 'web-7d9c',
        },
      },
    ]);
    assert.ok(m.bom);
    assert.equal(m.msg, alert.output);
  });

  it('maps every priority to the syslog severity of the same number', () => {
    for (const [severity, name] of priorityNames().entries()) {
      const m = parse5424(formatSyslog(sampleAlert(1, name), { ...FORMAT, facility: 1 }));
      assert.equal(m.pri, 8 + severity, name);
    }
  });

  it('escapes ", \\ and ] in parameter values and keeps them intact', () => {
    const rule = 'Weird "rule" [with] back\\slash';
    const m = parse5424(formatSyslog({ ...sampleAlert(1), rule }, FORMAT));
    assert.equal(m.sd[0]?.params['rule'], rule);
  });

  it('keeps header fields printable ASCII and within their lengths', () => {
    const alert: Alert = { ...sampleAlert(1), node: 'node with spaces é', kind: 'anomaly' };
    const m = parse5424(formatSyslog(alert, { ...FORMAT, appName: 'a'.repeat(60), bom: false }));
    assert.equal(m.hostname, 'node_with_spaces__');
    assert.equal(m.appName, 'a'.repeat(48));
    assert.equal(m.msgId, 'anomaly');
    assert.equal(m.bom, false);
    assert.equal(m.sd[0]?.params['node'], 'node with spaces é', 'structured data keeps the real name');
  });

  it('cuts a long output to max bytes on a character boundary', () => {
    const long = 'é🚨'.repeat(2000);
    const bytes = formatSyslog(sampleAlert(1, 'Warning', long), { ...FORMAT, maxBytes: 1001 });
    assert.ok(bytes.length <= 1001, `${bytes.length} bytes`);
    const m = parse5424(bytes);
    assert.ok(long.startsWith(m.msg) && m.msg.length > 100);
  });

  it('writes a nil timestamp for a time it cannot read', () => {
    assert.equal(syslogTimestamp('yesterday'), '-');
    assert.equal(syslogTimestamp('2024-05-01T12:00:00+02:00'), '2024-05-01T12:00:00+02:00');
    assert.equal(parse5424(formatSyslog({ ...sampleAlert(1), time: 'bad' }, FORMAT)).timestamp, '-');
  });
});

describe('syslog output', function () {
  this.timeout(20_000);
  const settings = { name: 'siem', minPriority: Priority.Debug, queueSize: 100 };

  it('frames TCP messages with RFC 6587 octet counting', async () => {
    const chunks: Buffer[] = [];
    const server = createServer((s) => s.on('data', (c: Buffer) => chunks.push(c)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const output = createSyslogOutput(settings, options(port, 'tcp'));
    try {
      assert.equal((await output.send([sampleAlert(1), sampleAlert(2)])).result, 'success');
      await waitFor(() => Buffer.concat(chunks).length > 0);
      await new Promise((r) => setTimeout(r, 20));
      const raw = Buffer.concat(chunks);
      const first = formatSyslog(sampleAlert(1), FORMAT);
      assert.ok(raw.subarray(0, 12).toString('ascii').startsWith(`${first.length} <164>1 `));
      const { messages, rest } = unframeOctetCounted(raw);
      assert.equal(messages.length, 2);
      assert.equal(rest.length, 0);
    } finally {
      await output.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('reconnects after the server drops the connection', async () => {
    const receiver = await startStreamReceiver();
    const output = createSyslogOutput(settings, options(receiver.port, 'tcp'));
    try {
      assert.equal((await output.send([sampleAlert(1)])).result, 'success');
      await waitFor(() => receiver.messages.length === 1);
      receiver.dropConnections();
      // Let the client see the connection end before the next send.
      await new Promise((r) => setTimeout(r, 50));
      assert.equal((await output.send([sampleAlert(2)])).result, 'success');
      await waitFor(() => receiver.messages.length === 2);
      assert.equal(receiver.connections, 2);
      assert.deepEqual(
        decode(receiver).map((a) => a.id),
        [sampleAlert(1).id, sampleAlert(2).id],
      );
    } finally {
      await output.close();
      await receiver.close();
    }
  });

  it('rides out a syslog server restart with retries, delivering once it is back', async () => {
    const port = await closedPort();
    const output = withRetry(createSyslogOutput(settings, options(port, 'tcp')), {
      maxAttempts: 100,
      initialBackoffMs: 20,
      maxBackoffMs: 50,
      deadlineMs: 10_000,
      jitter: 0,
    });
    const got: Buffer[] = [];
    const sockets: Socket[] = [];
    try {
      const sending = output.send([sampleAlert(1), sampleAlert(2)]);
      await new Promise((r) => setTimeout(r, 200));
      const server = createServer((s) => {
        sockets.push(s);
        s.on('data', (c: Buffer) => got.push(c));
      });
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
      const outcome = await sending;
      assert.equal(outcome.result, 'success');
      assert.ok((outcome.attempts ?? 0) > 1, 'it had to retry');
      await waitFor(() => unframeOctetCounted(Buffer.concat(got)).messages.length === 2);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    } finally {
      await output.close();
    }
  });

  it('refuses a TLS server it does not trust, as retryable', async () => {
    const receiver = await startStreamReceiver(cert());
    const output = createSyslogOutput(
      settings,
      options(receiver.port, 'tls', { tls: { rejectUnauthorized: true } }),
    );
    try {
      const outcome = await output.send([sampleAlert(1)]);
      assert.equal(outcome.result, 'retryable');
      assert.equal(receiver.messages.length, 0);
    } finally {
      await output.close();
      await receiver.close();
    }
  });

  it('is configured by facility name or number and a private SD-ID, with errors naming the key', () => {
    const plan = parseOutputEntry({ type: 'syslog', host: 'siem', facility: 'local3', protocol: 'tls' }, [
      'outputs',
      0,
    ]);
    assert.equal(plan.settings.name, 'syslog');
    assert.throws(
      () =>
        parseOutputEntry({ type: 'syslog', name: 'siem', host: 'siem', facility: 'local9' }, ['outputs', 1]),
      /outputs\.1\.facility: expected a syslog facility .* for syslog output "siem", found "local9"/,
    );
    assert.throws(
      () => parseOutputEntry({ type: 'syslog', host: 'siem', sd_id: 'vigil' }, ['outputs', 2]),
      /outputs\.2\.sd_id: expected a private SD-ID/,
    );
    assert.throws(
      () => parseOutputEntry({ type: 'syslog', name: 'siem' }, ['outputs', 3]),
      /outputs\.3\.host: .*found nothing \(the key is required\)/,
    );
    assert.doesNotThrow(() =>
      parseOutputEntry({ type: 'syslog', host: 'siem', facility: 4 }, ['outputs', 4]),
    );
  });
});

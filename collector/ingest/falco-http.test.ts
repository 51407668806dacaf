import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Alert } from '../../core/alert.js';
import { createFalcoHttpHandler, falcoToAlert, FalcoPayloadError, parseFalcoBody } from './falco-http.js';

/** What Falco's http_output posts for a shell in a Kubernetes container (json_output: true). */
const SHELL_IN_POD = {
  hostname: 'worker-2',
  output:
    '09:14:07.506224671: Notice A shell was spawned in a container with an attached terminal (evt_type=execve user=root user_uid=0 user_loginuid=-1 process=bash proc_exepath=/usr/bin/bash parent=runc command=bash -il terminal=34816 exe_flags=EXE_WRITABLE container_id=3ad7b26ded6d container_image=docker.io/library/nginx container_image_tag=1.27 container_name=web k8s_ns=shop k8s_pod_name=web-7d9c4)',
  output_fields: {
    'container.id': '3ad7b26ded6d',
    'container.image.repository': 'docker.io/library/nginx',
    'container.image.tag': '1.27',
    'container.name': 'web',
    'evt.arg.flags': 'EXE_WRITABLE',
    'evt.time': 1714554847506224600,
    'evt.type': 'execve',
    'k8s.ns.name': 'shop',
    'k8s.pod.name': 'web-7d9c4',
    'proc.cmdline': 'bash -il',
    'proc.exepath': '/usr/bin/bash',
    'proc.name': 'bash',
    'proc.pname': 'runc',
    'proc.tty': 34816,
    'user.loginuid': -1,
    'user.name': 'root',
    'user.uid': 0,
  },
  priority: 'Notice',
  rule: 'Terminal shell in container',
  source: 'syscall',
  tags: ['T1059', 'container', 'maturity_stable', 'mitre_execution', 'shell'],
  time: '2024-05-01T09:14:07.506224671Z',
};

/** A host-level alert: no container, k8s fields null, as Falco writes missing values. */
const WRITE_BELOW_ETC = {
  hostname: 'worker-3',
  output:
    '10:01:02.000000001: Error File below /etc opened for writing (file=/etc/shadow- pcmdline=passwd user=root command=passwd container_id=host image=<NA>)',
  output_fields: {
    'container.id': 'host',
    'container.image.repository': null,
    'evt.time': 1714557662000000000,
    'fd.name': '/etc/shadow-',
    'k8s.ns.name': null,
    'k8s.pod.name': null,
    'proc.cmdline': 'passwd',
    'user.name': 'root',
  },
  priority: 'Error',
  rule: 'Write below etc',
  source: 'syscall',
  tags: ['filesystem', 'mitre_persistence'],
  time: '2024-05-01T10:01:02.000000001Z',
};

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: { accepted?: number; error?: string; field?: string };
}

describe('Falco http_output ingest', function () {
  this.timeout(10_000);
  let server: Server;
  let base: string;
  let received: Alert[][];
  let accept: (alerts: readonly Alert[]) => void | Promise<void>;

  beforeEach(async () => {
    received = [];
    accept = (alerts) => void received.push([...alerts]);
    const handler = createFalcoHttpHandler({ onAlerts: (alerts) => accept(alerts), maxBodyBytes: 64 * 1024 });
    server = createServer((req, res) => {
      if (req.url === '/api/v1/falco') handler(req, res);
      else res.writeHead(404).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/falco`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  /** Posts like Falco (libcurl: Content-Type application/json, Content-Length); `chunked` streams instead. */
  function post(
    body: string | Buffer,
    options: { contentType?: string; method?: string; chunked?: boolean } = {},
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const payload = typeof body === 'string' ? Buffer.from(body) : body;
      const req = request(base, {
        method: options.method ?? 'POST',
        headers: {
          'content-type': options.contentType ?? 'application/json',
          ...(options.chunked === true
            ? { 'transfer-encoding': 'chunked' }
            : { 'content-length': payload.length }),
        },
      });
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text === '' ? {} : (JSON.parse(text) as Reply['body']),
          });
        });
      });
      // A server refusing a large body may close while it is still being sent; the answer counts.
      req.on('error', (err) => {
        if (!answered) reject(err);
      });
      if (options.chunked === true) {
        for (let i = 0; i < payload.length; i += 16 * 1024) req.write(payload.subarray(i, i + 16 * 1024));
        req.end();
      } else {
        req.end(payload);
      }
    });
  }

  it('accepts one alert per POST, as Falco sends it, and converts it to a Vigil alert', async () => {
    const reply = await post(JSON.stringify(SHELL_IN_POD));
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { accepted: 1 });
    assert.equal(received.length, 1);
    const alert = received[0]?.[0];
    assert.ok(alert !== undefined);
    assert.equal(alert.time, SHELL_IN_POD.time);
    assert.equal(alert.rule, 'Terminal shell in container');
    assert.equal(alert.priority, 'Notice');
    assert.equal(alert.output, SHELL_IN_POD.output);
    assert.deepEqual(alert.output_fields, SHELL_IN_POD.output_fields);
    assert.equal(alert.source, 'syscall');
    assert.deepEqual(alert.tags, SHELL_IN_POD.tags);
    assert.equal(alert.hostname, 'worker-2');
    assert.equal(alert.node, 'worker-2');
    assert.equal(alert.kind, 'signature');
    assert.deepEqual(alert.workload, {
      namespace: 'shop',
      pod: 'web-7d9c4',
      container: 'web',
      image: 'docker.io/library/nginx:1.27',
    });
    assert.match(
      alert.id,
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      'a version-5 UUID',
    );
  });

  it('gives a retried post the same id, and a different alert a different one', async () => {
    await post(JSON.stringify(SHELL_IN_POD));
    // Key order and spacing differ; the content does not.
    const reordered = Object.fromEntries(Object.entries(SHELL_IN_POD).reverse());
    await post(JSON.stringify(reordered, null, 2));
    // The next event, one nanosecond later. (evt.time alone could not tell them apart: past 2^53 a
    // JSON number loses its last digits in JavaScript, so the id rests on the time string too.)
    await post(JSON.stringify({ ...SHELL_IN_POD, time: '2024-05-01T09:14:07.506224672Z' }));
    const [first, again, other] = received.map((batch) => batch[0]?.id);
    assert.equal(first, again);
    assert.notEqual(first, other);
  });

  it('accepts a JSON array and JSON lines (a replayed Falco file output)', async () => {
    const array = await post(JSON.stringify([SHELL_IN_POD, WRITE_BELOW_ETC]));
    assert.deepEqual(array.body, { accepted: 2 });
    const lines = await post(`${JSON.stringify(SHELL_IN_POD)}\n\n${JSON.stringify(WRITE_BELOW_ETC)}\n`, {
      contentType: 'application/x-ndjson',
    });
    assert.deepEqual(lines.body, { accepted: 2 });
    assert.deepEqual(
      received.map((batch) => batch.map((a) => a.rule)),
      [
        ['Terminal shell in container', 'Write below etc'],
        ['Terminal shell in container', 'Write below etc'],
      ],
    );
    const host = received[0]?.[1];
    assert.equal(host?.workload, undefined, 'null k8s fields and a host container give no workload');
    assert.equal(host?.priority, 'Error');
  });

  it('refuses malformed bodies with a 400 that names the field, and passes nothing on', async () => {
    const cases: [string, string, RegExp][] = [
      ['{"rule": ', '(body)', /^\(body\): not JSON/],
      ['', '(body)', /^\(body\): empty/],
      ['[]', '(body)', /empty list/],
      ['"just a string"', '(body)', /expected Falco's JSON alert \(an object\), found "just a string"/],
      [
        JSON.stringify({ ...SHELL_IN_POD, rule: undefined }),
        'rule',
        /^rule: expected a non-empty string, found nothing$/,
      ],
      [
        JSON.stringify({ ...SHELL_IN_POD, priority: 'Severe' }),
        'priority',
        /^priority: expected a Falco priority .* found "Severe"$/,
      ],
      [JSON.stringify({ ...SHELL_IN_POD, time: '1714554847' }), 'time', /^time: expected an RFC 3339 time/],
      [JSON.stringify({ ...SHELL_IN_POD, time: '2024-13-45T99:00:00Z' }), 'time', /^time: /],
      [JSON.stringify({ ...SHELL_IN_POD, hostname: '' }), 'hostname', /^hostname: expected the node's name/],
      [
        JSON.stringify({ ...SHELL_IN_POD, output_fields: ['a'] }),
        'output_fields',
        /^output_fields: expected an object/,
      ],
      [
        JSON.stringify({ ...SHELL_IN_POD, tags: ['ok', 7] }),
        'tags[1]',
        /^tags\[1\]: expected a string, found 7$/,
      ],
      [JSON.stringify({ ...SHELL_IN_POD, output: 42 }), 'output', /^output: expected a string/],
      [
        JSON.stringify([SHELL_IN_POD, { ...WRITE_BELOW_ETC, hostname: undefined }]),
        'hostname',
        /^\[1\]: hostname: /,
      ],
      [
        `${JSON.stringify(SHELL_IN_POD)}\n${JSON.stringify(WRITE_BELOW_ETC)}\n{"rule": "x"`,
        '(body)',
        /^line 3: \(body\): not JSON/,
      ],
      [
        `${JSON.stringify(SHELL_IN_POD)}\n${JSON.stringify({ ...WRITE_BELOW_ETC, priority: 3 })}`,
        'priority',
        /^line 2: priority: /,
      ],
    ];
    for (const [body, field, message] of cases) {
      const reply = await post(body);
      assert.equal(reply.status, 400, body.slice(0, 80));
      assert.equal(reply.body.field, field, body.slice(0, 80));
      assert.match(reply.body.error ?? '', message);
    }
    assert.deepEqual(received, []);
  });

  it('tells a Falco without json_output what to change', async () => {
    const reply = await post(SHELL_IN_POD.output, { contentType: 'text/plain' });
    assert.equal(reply.status, 400);
    assert.match(reply.body.error ?? '', /set json_output: true/);
  });

  it('refuses a body over the limit with 413, from Content-Length or while streaming', async () => {
    const big = JSON.stringify({ ...SHELL_IN_POD, output: 'x'.repeat(100 * 1024) });
    const declared = await post(big);
    assert.equal(declared.status, 413);
    assert.match(declared.body.error ?? '', /larger than 65536 bytes/);
    const streamed = await post(big, { chunked: true });
    assert.equal(streamed.status, 413);
    assert.equal(streamed.headers['connection'], 'close');
    assert.deepEqual(received, []);
    // The server is still fine for the next sender.
    assert.equal((await post(JSON.stringify(SHELL_IN_POD))).status, 200);
  });

  it('answers 405 to anything but POST', async () => {
    const reply = await post('', { method: 'GET' });
    assert.equal(reply.status, 405);
    assert.equal(reply.headers['allow'], 'POST');
  });

  it('answers 503 when the collector cannot take the alerts', async () => {
    accept = () => Promise.reject(new Error('store is read-only'));
    const reply = await post(JSON.stringify(SHELL_IN_POD));
    assert.equal(reply.status, 503);
    assert.match(reply.body.error ?? '', /store is read-only/);
  });
});

describe('Falco JSON to Vigil alert', () => {
  it('builds the output from `message` when Falco leaves `output` out, and defaults source and tags', () => {
    const rest: Record<string, unknown> = { ...SHELL_IN_POD };
    delete rest['output'];
    delete rest['source'];
    delete rest['tags'];
    const alert = falcoToAlert({ ...rest, message: 'A shell was spawned (user=root)' });
    assert.equal(alert.output, '09:14:07.506224671: Notice A shell was spawned (user=root)');
    assert.equal(alert.source, 'syscall');
    assert.deepEqual(alert.tags, []);
  });

  it('normalises the time to UTC with nine fraction digits, and the priority to its Falco name', () => {
    const alert = falcoToAlert({ ...SHELL_IN_POD, time: '2024-05-01T11:14:07.5+02:00', priority: 'info' });
    assert.equal(alert.time, '2024-05-01T09:14:07.500000000Z');
    assert.equal(alert.priority, 'Informational');
  });

  it('throws FalcoPayloadError with the field for a bad alert', () => {
    assert.throws(
      () => parseFalcoBody(JSON.stringify({ ...SHELL_IN_POD, source: 5 })),
      (err: unknown) => err instanceof FalcoPayloadError && err.field === 'source' && err.where === '',
    );
  });
});

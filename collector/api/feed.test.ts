import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import WebSocket from 'ws';
import type { Alert } from '../../core/alert.js';
import { sampleAlert, T0 } from '../store/store-conformance.js';
import { startTestApi, type TestApi } from './api-harness.test.js';
import { FEED_CLOSE, FEED_PATH } from './feed.js';

/** A live-feed client that keeps every message and can wait for a condition on them. */
class FeedClient {
  readonly messages: Record<string, unknown>[] = [];
  readonly ws: WebSocket;
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  constructor(t: TestApi, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(`ws://127.0.0.1:${t.port}${FEED_PATH}`, { headers });
    this.ws.on('message', (data) => {
      this.messages.push(JSON.parse((data as Buffer).toString('utf8')) as Record<string, unknown>);
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    this.ws.on('error', () => this.wake());
  }

  static async open(t: TestApi, token?: string): Promise<FeedClient> {
    const client = new FeedClient(t, token === undefined ? {} : { authorization: `Bearer ${token}` });
    await once(client.ws, 'open');
    return client;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Subscribes and waits for the answer. */
  async subscribe(filter: Record<string, unknown>, token?: string): Promise<Record<string, unknown>> {
    const before = this.messages.length;
    this.send({ type: 'subscribe', filter, ...(token !== undefined && { token }) });
    await this.until(() => this.messages.length > before || this.closed !== undefined);
    return this.messages[before] as Record<string, unknown>;
  }

  alertIds(): string[] {
    return this.messages.filter((m) => m['type'] === 'alert').map((m) => (m['alert'] as Alert).id);
  }

  until(condition: () => boolean, ms = 10_000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`condition not met in ${ms} ms`)), ms);
      const check = (): void => {
        if (condition()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }
}

/** The HTTP status a WebSocket handshake was refused with. */
async function refusal(ws: WebSocket): Promise<number> {
  ws.on('error', () => undefined);
  const [req, res] = (await once(ws, 'unexpected-response')) as [ClientRequest, IncomingMessage];
  res.resume();
  req.destroy();
  return res.statusCode ?? 0;
}

/** A client frame (clients must mask). */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 65536);
  const header =
    payload.length < 126
      ? Buffer.from([0x81, 0x80 | payload.length])
      : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const mask = randomBytes(4);
  return Buffer.concat([header, mask, payload.map((b, i) => b ^ (mask[i % 4] as number))]);
}

/**
 * A client that subscribes over a raw TCP socket and then never reads again: the slowest
 * possible reader.
 */
async function neverReadingClient(t: TestApi, token: string): Promise<Socket> {
  const socket = tcpConnect({ port: t.port, host: '127.0.0.1' });
  await once(socket, 'connect');
  socket.write(
    `GET ${FEED_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      `Authorization: Bearer ${token}\r\n\r\n`,
  );
  let seen = '';
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString('latin1');
      if (seen.includes('HTTP/1.1 101') && !seen.includes('"subscribed"') && !seen.includes('sent')) {
        seen += '(sent)';
        socket.write(maskedTextFrame(JSON.stringify({ type: 'subscribe', filter: {} })));
      }
      if (seen.includes('"subscribed"')) {
        socket.off('data', onData);
        socket.pause();
        resolve();
      }
    };
    socket.on('data', onData);
  });
  socket.on('error', () => undefined);
  return socket;
}

describe('live feed', function () {
  this.timeout(60_000);
  let t: TestApi;
  const clients: FeedClient[] = [];
  const open = async (token?: string): Promise<FeedClient> => {
    const c = await FeedClient.open(t, token);
    clients.push(c);
    return c;
  };
  beforeEach(async () => {
    t = await startTestApi({ feed: { heartbeatMs: 100, authTimeoutMs: 300, maxBufferedBytes: 256 * 1024 } });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    await t.close();
  });

  const batch = (): Alert[] => [
    sampleAlert({ id: 'f1', priority: 'Critical', workload: { namespace: 'payments', pod: 'api-1' } }),
    sampleAlert({ id: 'f2', priority: 'Notice', workload: { namespace: 'payments', pod: 'api-1' } }),
    sampleAlert({
      id: 'f3',
      priority: 'Warning',
      output: 'read /etc/shadow',
      workload: { namespace: 'web', pod: 'w-1' },
    }),
    sampleAlert({
      id: 'f4',
      priority: 'Error',
      kind: 'anomaly',
      tags: ['T1552'],
      workload: { namespace: 'payments', pod: 'db-0' },
    }),
    sampleAlert({ id: 'f5', priority: 'Debug', output: 'shadow of a doubt', node: 'node-7' }),
  ];

  it('sends each client only the new alerts its filter matches, in order', async () => {
    const byHeader = await open(t.token.viewer);
    assert.deepEqual(await byHeader.subscribe({ namespace: 'payments', priority: 'warning' }), {
      type: 'subscribed',
      principal: { name: 'viewer-token', role: 'viewer' },
      filter: { namespace: 'payments', minPriority: 'Warning' },
    });
    const byMessage = await open();
    assert.equal((await byMessage.subscribe({ q: 'shadow' }, t.token.responder))['type'], 'subscribed');
    const everything = await open(t.token.admin);
    await everything.subscribe({});
    const combined = await open(t.token.viewer);
    await combined.subscribe({
      kind: 'anomaly',
      tag: 'T1552',
      from: String(T0),
      to: new Date(T0 + 1).toISOString(),
    });
    const notYet = await open(t.token.viewer);

    t.api.feed.publish(batch(), T0);
    await everything.until(() => everything.alertIds().length === 5);
    await byHeader.until(() => byHeader.alertIds().length === 2);
    await byMessage.until(() => byMessage.alertIds().length === 2);
    await combined.until(() => combined.alertIds().length === 1);
    assert.deepEqual(everything.alertIds(), ['f1', 'f2', 'f3', 'f4', 'f5']);
    assert.deepEqual(byHeader.alertIds(), ['f1', 'f4']);
    assert.deepEqual(byMessage.alertIds(), ['f3', 'f5']);
    assert.deepEqual(combined.alertIds(), ['f4']);
    const first = everything.messages.find((m) => m['type'] === 'alert');
    assert.deepEqual(first, { type: 'alert', alert: batch()[0], receivedMs: T0 });

    // A client that has not subscribed yet gets nothing; after subscribing, only what comes next.
    await notYet.subscribe({ node: 'node-7' });
    t.api.feed.publish([sampleAlert({ id: 'f6', node: 'node-7' })], T0);
    await notYet.until(() => notYet.alertIds().length === 1);
    assert.deepEqual(notYet.alertIds(), ['f6']);
    await everything.until(() => everything.alertIds().length === 6);
    assert.equal(byHeader.alertIds().length, 2);
    assert.match(await t.registry.metrics(), /vigil_collector_feed_alerts_sent_total 12/);
  });

  it('changes the filter on a new subscribe, and keeps it when a new one is bad', async () => {
    const c = await open(t.token.viewer);
    await c.subscribe({ priority: 'critical' });
    const refused = await c.subscribe({ priority: 'urgent' });
    assert.equal(refused['type'], 'error');
    assert.equal(refused['parameter'], 'priority');
    t.api.feed.publish(batch(), T0);
    await c.until(() => c.alertIds().length === 1);
    assert.deepEqual(c.alertIds(), ['f1']);
    await c.subscribe({ pod: 'w-1' });
    t.api.feed.publish(batch(), T0);
    await c.until(() => c.alertIds().length === 2);
    assert.deepEqual(c.alertIds(), ['f1', 'f3']);
    assert.equal(c.closed, undefined);
  });

  it('refuses a bad bearer header with the HTTP answer, before the upgrade', async () => {
    for (const [header, status] of [
      [`Bearer vgl_${'Q'.repeat(43)}`, 401],
      ['Token abc', 401],
    ] as const) {
      const ws = new WebSocket(`ws://127.0.0.1:${t.port}${FEED_PATH}`, {
        headers: { authorization: header },
      });
      assert.equal(await refusal(ws), status);
    }
    assert.equal(await refusal(new WebSocket(`ws://127.0.0.1:${t.port}/api/v1/other`)), 404);
  });

  it('closes connections that do not authenticate or subscribe properly, with the documented codes', async () => {
    const noToken = await open();
    await noToken.subscribe({});
    await noToken.until(() => noToken.closed !== undefined);
    assert.equal(noToken.closed?.code, FEED_CLOSE.unauthorized);

    const badToken = await open();
    await badToken.subscribe({}, `vgl_${'A'.repeat(43)}`);
    await badToken.until(() => badToken.closed !== undefined);
    assert.equal(badToken.closed?.code, FEED_CLOSE.unauthorized);

    t.clock.now += 61_000;
    const expired = await open();
    const answer = await expired.subscribe({}, t.token.expiring);
    assert.match(String(answer['detail']), /expired/);
    await expired.until(() => expired.closed !== undefined);
    assert.equal(expired.closed?.code, FEED_CLOSE.unauthorized);

    const garbage = await open(t.token.viewer);
    garbage.send('hello?');
    await garbage.until(() => garbage.closed !== undefined);
    assert.equal(garbage.closed?.code, FEED_CLOSE.badRequest);

    const badFilter = await open(t.token.viewer);
    const refused = await badFilter.subscribe({ colour: 'red' });
    assert.equal(refused['parameter'], 'colour');
    await badFilter.until(() => badFilter.closed !== undefined);
    assert.equal(badFilter.closed?.code, FEED_CLOSE.badRequest);

    const silent = await open(t.token.viewer);
    await silent.until(() => silent.closed !== undefined);
    assert.equal(silent.closed?.code, FEED_CLOSE.authTimeout);
  });

  it('disconnects a client whose token is revoked while it is connected', async () => {
    const c = await open(t.token.responder);
    await c.subscribe({});
    t.tokens.revoke('responder-token');
    await c.until(() => c.closed !== undefined);
    assert.equal(c.closed?.code, FEED_CLOSE.unauthorized);
    assert.ok(
      c.messages.some((m) => m['type'] === 'error' && /unknown or revoked/.test(String(m['detail']))),
    );
  });

  it('drops a client that never reads, keeps a reading one, and never holds more than the bound', async () => {
    // A heartbeat would cut the silent client off for not answering pings; this is about the queue.
    await t.close();
    t = await startTestApi({ feed: { heartbeatMs: 600_000, maxBufferedBytes: 256 * 1024 } });
    const fast = await open(t.token.viewer);
    await fast.subscribe({});
    const slow = await neverReadingClient(t, t.token.viewer);
    assert.equal(t.api.feed.clientCount(), 2);

    const output = 'x'.repeat(1400);
    const perRound = 100;
    let frame = 0;
    let maxBuffered = 0;
    let rounds = 0;
    let afterDrop = 0;
    // Publish until the silent client is dropped (the kernel's socket buffers on loopback take
    // tens of MB first: ~17 MB here), then some more to show the reading client is unaffected.
    while (afterDrop < 20) {
      assert.ok(rounds < 1000, 'the silent client was never dropped (190 MB published)');
      const alerts = Array.from({ length: perRound }, (_, i) =>
        sampleAlert({ id: `s${rounds}-${i}`, output }),
      );
      frame = JSON.stringify({ type: 'alert', alert: alerts[0], receivedMs: T0 }).length;
      t.api.feed.publish(alerts, T0);
      maxBuffered = Math.max(maxBuffered, t.api.feed.bufferedBytes());
      rounds++;
      await fast.until(() => fast.alertIds().length === rounds * perRound);
      if (t.api.feed.clientCount() === 1) afterDrop++;
    }
    assert.match(await t.registry.metrics(), /vigil_collector_feed_dropped_clients_total 1/);
    assert.equal(fast.alertIds().length, rounds * perRound);
    assert.equal(new Set(fast.alertIds()).size, rounds * perRound);
    assert.equal(fast.closed, undefined);
    // The slow client's queue never passed its bound (plus the frame that found it full and the
    // drop notice); the fast client's never held more than one round.
    const bound = 256 * 1024 + 2 * frame + 1024 + perRound * frame;
    assert.ok(maxBuffered <= bound, `buffered ${maxBuffered} > bound ${bound}`);
    assert.ok(t.logs.some((l) => l['msg'] === 'live-feed client dropped: too slow'));
    slow.destroy();
  });

  it('refuses clients past the limit with 503', async () => {
    await t.close();
    t = await startTestApi({ feed: { maxClients: 1 } });
    await open(t.token.viewer);
    const second = new WebSocket(`ws://127.0.0.1:${t.port}${FEED_PATH}`, {
      headers: { authorization: `Bearer ${t.token.viewer}` },
    });
    assert.equal(await refusal(second), 503);
  });
});

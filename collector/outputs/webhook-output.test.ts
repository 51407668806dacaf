import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { Alert } from '../../core/alert.js';
import { createLogger } from '../../core/log.js';
import { Priority } from '../../core/priority.js';
import {
  describeOutputConformance,
  type HarnessSettings,
  type ReceivedAlert,
} from './output-conformance.test.js';
import {
  closedPort,
  ManualClock,
  sampleAlert,
  selfSignedCertificate,
  startHttpReceiver,
  waitFor,
  type HttpReceiver,
} from './output-fixtures.test.js';
import { createOutputRouter } from './output-router.js';
import { withRetry } from './retrying-output.js';
import { createWebhookOutput, type WebhookOptions } from './webhook-output.js';

const quiet = createLogger({ write: () => undefined, now: Date.now });

function options(url: string, extra: Partial<WebhookOptions> = {}): WebhookOptions {
  return {
    url: new URL(url),
    mode: 'single',
    batchSize: 100,
    method: 'POST',
    headers: {},
    timeoutMs: 2000,
    ...extra,
  };
}

function decode(receiver: HttpReceiver): ReceivedAlert[] {
  return receiver.requests
    .filter((r) => r.status >= 200 && r.status < 300)
    .flatMap((r) => {
      const body = JSON.parse(r.body) as Alert | Alert[];
      return Array.isArray(body) ? body : [body];
    })
    .map((a) => ({ id: a.id, rule: a.rule, priority: a.priority, output: a.output }));
}

for (const mode of ['single', 'batch'] as const) {
  describeOutputConformance(
    'webhook',
    async () => {
      const receiver = await startHttpReceiver();
      const dead = await closedPort();
      return {
        create: (s: HarnessSettings) =>
          createWebhookOutput(s, options(receiver.url, { mode, batchSize: 20 })),
        createUnreachable: (s: HarnessSettings) =>
          createWebhookOutput(s, options(`http://127.0.0.1:${dead}/hook`)),
        received: () => Promise.resolve(decode(receiver)),
        close: () => receiver.close(),
      };
    },
    `${mode} mode`,
  );
}

describe('webhook output', function () {
  this.timeout(20_000);
  let receiver: HttpReceiver;
  const settings = { name: 'soc', minPriority: Priority.Debug, queueSize: 10_000 };

  beforeEach(async () => {
    receiver = await startHttpReceiver();
  });
  afterEach(() => receiver.close());

  it('gets every alert to a server that fails half the requests exactly once, within the retry budget', async () => {
    receiver.policy = (n) => (n % 2 === 0 ? { status: 500, body: 'try again' } : { status: 200 });
    const output = withRetry(createWebhookOutput(settings, options(receiver.url)), {
      maxAttempts: 4,
      initialBackoffMs: 1,
      maxBackoffMs: 10,
      deadlineMs: 5000,
      jitter: 0.5,
    });
    const metrics = new Registry();
    const router = createOutputRouter({ outputs: [output], metrics, logger: quiet });
    const alerts = Array.from({ length: 200 }, (_, i) => sampleAlert(i));
    router.publish(alerts);
    await router.flush();
    await router.close();

    const accepted = decode(receiver).map((a) => a.id);
    assert.equal(accepted.length, 200, 'every alert accepted once');
    assert.equal(new Set(accepted).size, 200, 'no alert accepted twice');
    assert.deepEqual(new Set(accepted), new Set(alerts.map((a) => a.id)));
    assert.equal(
      receiver.requests.filter((r) => r.status === 500).length,
      200,
      'each alert was refused once first',
    );
    const text = await metrics.metrics();
    assert.match(text, /vigil_collector_output_alerts_total\{output="soc",result="success"\} 200/);
    assert.match(text, /vigil_collector_output_retries_total\{output="soc"\} 200/);
    assert.doesNotMatch(text, /result="failure"\} [1-9]/);
  });

  it('in batch mode, posts JSON arrays of at most batch_size alerts, with the configured headers', async () => {
    const output = createWebhookOutput(
      settings,
      options(receiver.url, {
        mode: 'batch',
        batchSize: 3,
        headers: { authorization: 'Bearer t0ken', 'x-team': 'soc' },
      }),
    );
    assert.equal(output.maxBatch, 3);
    assert.equal((await output.send([sampleAlert(1), sampleAlert(2), sampleAlert(3)])).result, 'success');
    await output.close();
    const [req] = receiver.requests;
    assert.ok(req !== undefined);
    assert.equal(req.method, 'POST');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['authorization'], 'Bearer t0ken');
    assert.equal(req.headers['x-team'], 'soc');
    const body = JSON.parse(req.body) as Alert[];
    assert.deepEqual(
      body.map((a) => a.id),
      [1, 2, 3].map((n) => sampleAlert(n).id),
    );
    assert.deepEqual(body[0], sampleAlert(1), 'the whole alert, Vigil fields included');
  });

  it('does not retry a 4xx other than 408 and 429', async () => {
    receiver.policy = () => ({ status: 400, body: '{"error":"bad field"}' });
    const output = withRetry(createWebhookOutput(settings, options(receiver.url)), {
      maxAttempts: 5,
      initialBackoffMs: 1,
      maxBackoffMs: 1,
      deadlineMs: 5000,
      jitter: 0,
    });
    const outcome = await output.send([sampleAlert(1)]);
    assert.equal(outcome.result, 'failure');
    assert.equal(outcome.attempts, 1);
    assert.match(
      outcome.result === 'failure' ? outcome.error.message : '',
      /answered 400: \{"error":"bad field"\}/,
    );
    assert.equal(receiver.requests.length, 1);
    await output.close();
  });

  it("honours a 429's Retry-After before trying again", async () => {
    receiver.policy = (n) => (n === 0 ? { status: 429, headers: { 'retry-after': '7' } } : { status: 200 });
    const clock = new ManualClock();
    const output = withRetry(
      createWebhookOutput(settings, options(receiver.url)),
      { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 100, deadlineMs: 60_000, jitter: 0 },
      { clock },
    );
    const sending = output.send([sampleAlert(1)]);
    await waitFor(() => clock.pending === 1, 5000, 'the retry to be scheduled');
    assert.deepEqual(clock.scheduled, [7000], 'waited what the server asked, not the 10 ms backoff');
    await clock.advance(6999);
    assert.equal(receiver.requests.length, 1, 'no second request before Retry-After');
    await clock.advance(1);
    const outcome = await sending;
    assert.equal(outcome.result, 'success');
    assert.equal(outcome.attempts, 2);
    assert.equal(receiver.requests.length, 2);
    await output.close();
  });

  it('gives up on a server that never answers after its timeout, as retryable', async () => {
    receiver.policy = () => 'hang';
    const output = createWebhookOutput(settings, options(receiver.url, { timeoutMs: 200 }));
    const started = Date.now();
    const outcome = await output.send([sampleAlert(1)]);
    const elapsed = Date.now() - started;
    assert.equal(outcome.result, 'retryable');
    assert.ok(elapsed >= 190 && elapsed < 2000, `took ${elapsed} ms`);
    await output.close();
  });

  it('keeps the URL path out of error messages (it may hold a token)', async () => {
    const dead = await closedPort();
    const output = createWebhookOutput(settings, options(`http://127.0.0.1:${dead}/services/T000/SECRET`));
    const outcome = await output.send([sampleAlert(1)]);
    assert.equal(outcome.result, 'retryable');
    const message =
      outcome.result === 'retryable' ? `${outcome.error.message} ${String(outcome.error.cause)}` : '';
    assert.doesNotMatch(message, /SECRET/);
    assert.match(message, /POST http:\/\/127\.0\.0\.1:\d+/);
    await output.close();
  });

  it('posts over HTTPS to a server whose self-signed certificate it is told to trust, and only then', async () => {
    const cert = selfSignedCertificate();
    const secure = await startHttpReceiver(cert);
    try {
      const trusting = createWebhookOutput(settings, options(secure.url, { ca: cert.cert }));
      assert.equal((await trusting.send([sampleAlert(1)])).result, 'success');
      await trusting.close();
      const wary = createWebhookOutput(settings, options(secure.url));
      const outcome = await wary.send([sampleAlert(2)]);
      assert.equal(outcome.result, 'retryable');
      await wary.close();
      assert.deepEqual(
        decode(secure).map((a) => a.id),
        [sampleAlert(1).id],
      );
    } finally {
      await secure.close();
    }
  });

  it('aborts a delivery in flight when the signal fires', async () => {
    receiver.policy = () => 'hang';
    const output = createWebhookOutput(settings, options(receiver.url, { timeoutMs: 10_000 }));
    const abort = new AbortController();
    const sending = output.send([sampleAlert(1)], abort.signal);
    setTimeout(() => abort.abort(), 50);
    const started = Date.now();
    const outcome = await sending;
    assert.equal(outcome.result, 'failure');
    assert.ok(Date.now() - started < 1000);
    await output.close();
  });
});

import assert from 'node:assert/strict';
import { Priority, priorityNames } from '../../core/priority.js';
import {
  describeOutputConformance,
  type HarnessSettings,
  type ReceivedAlert,
} from './output-conformance.test.js';
import {
  closedPort,
  ManualClock,
  sampleAlert,
  startHttpReceiver,
  waitFor,
  type HttpReceiver,
} from './output-fixtures.test.js';
import { withRetry } from './retrying-output.js';
import { createSlackOutput, PRIORITY_COLOURS, slackPayload, type SlackOptions } from './slack-output.js';

interface Attachment {
  color: string;
  fallback: string;
  title: string;
  text: string;
  footer: string;
  ts?: number;
  fields: { title: string; value: string; short: boolean }[];
}

interface Payload {
  text: string;
  username?: string;
  channel?: string;
  attachments: Attachment[];
}

/** Slack's escaping undone, as Slack shows the text. */
function unescape(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function decode(receiver: HttpReceiver): ReceivedAlert[] {
  return receiver.requests
    .filter((r) => r.status === 200)
    .map((r) => {
      const a = (JSON.parse(r.body) as Payload).attachments[0];
      assert.ok(a !== undefined, 'a message without an attachment');
      return {
        id: /· ([0-9a-f-]+)$/.exec(a.footer)?.[1] ?? '?',
        rule: unescape(a.title),
        priority: a.fields.find((f) => f.title === 'priority')?.value ?? '?',
        output: unescape(a.text),
      };
    });
}

function options(url: string): SlackOptions {
  return { webhookUrl: new URL(url), username: 'Vigil', timeoutMs: 2000 };
}

describeOutputConformance('slack', async () => {
  const receiver = await startHttpReceiver();
  const dead = await closedPort();
  return {
    create: (s: HarnessSettings) => createSlackOutput(s, options(receiver.url)),
    createUnreachable: (s: HarnessSettings) =>
      createSlackOutput(s, options(`http://127.0.0.1:${dead}/services/x`)),
    received: () => Promise.resolve(decode(receiver)),
    close: () => receiver.close(),
  };
});

describe('slack output', function () {
  this.timeout(10_000);

  it('colours each priority, most severe darkest, each distinct', () => {
    const colours = priorityNames().map((p) => slackPayload(sampleAlert(1, p)).attachments[0]?.['color']);
    assert.deepEqual(
      colours,
      priorityNames().map((p) => PRIORITY_COLOURS[p]),
    );
    assert.equal(new Set(colours).size, 8);
  });

  it('builds text, title, output and the key fields, escaping Slack markup', () => {
    const alert = {
      ...sampleAlert(7, 'Critical', '12:00:00: Critical <script> & "x"'),
      rule: 'Write below /etc <etc>',
    };
    const payload = slackPayload(alert, { username: 'Vigil', channel: '#soc' }) as unknown as Payload;
    assert.equal(payload.text, '[Critical] Write below /etc &lt;etc&gt; on node-1');
    assert.equal(payload.username, 'Vigil');
    assert.equal(payload.channel, '#soc');
    const a = payload.attachments[0];
    assert.ok(a !== undefined);
    assert.equal(a.color, PRIORITY_COLOURS.Critical);
    assert.equal(a.title, 'Write below /etc &lt;etc&gt;');
    assert.equal(a.text, '12:00:00: Critical &lt;script&gt; &amp; "x"');
    assert.equal(a.footer, `Vigil · syscall · ${alert.id}`);
    assert.equal(a.ts, Math.floor(Date.parse(alert.time) / 1000));
    const fields = Object.fromEntries(a.fields.map((f) => [f.title, f.value]));
    assert.equal(fields['priority'], 'Critical');
    assert.equal(fields['node'], 'node-1');
    assert.equal(fields['namespace'], 'shop');
    assert.equal(fields['pod'], 'web-7d9c');
    assert.equal(fields['image'], 'nginx:1.27');
    assert.equal(fields['proc.cmdline'], 'bash -il');
    assert.equal(fields['user.name'], 'root');
    assert.equal(fields['tags'], 'container, mitre_execution, shell');
  });

  it('shows the score and reasons of an anomaly', () => {
    const alert = {
      ...sampleAlert(8),
      kind: 'anomaly' as const,
      score: 0.934,
      reasons: ['never ran curl', 'new egress'],
    };
    const fields = (slackPayload(alert) as unknown as Payload).attachments[0]?.fields ?? [];
    assert.equal(fields.find((f) => f.title === 'anomaly score')?.value, '0.93');
    assert.equal(fields.find((f) => f.title === 'why')?.value, 'never ran curl\nnew egress');
  });

  it('waits out a rate limit (429 with Retry-After) and posts the message once', async () => {
    const receiver = await startHttpReceiver();
    try {
      receiver.policy = (n) =>
        n === 0
          ? { status: 429, headers: { 'retry-after': '2' }, body: 'rate_limited' }
          : { status: 200, body: 'ok' };
      const clock = new ManualClock();
      const output = withRetry(
        createSlackOutput(
          { name: 'slack', minPriority: Priority.Debug, queueSize: 10 },
          options(receiver.url),
        ),
        { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 1000, deadlineMs: 30_000, jitter: 0 },
        { clock },
      );
      const sending = output.send([sampleAlert(1, 'Error')]);
      await waitFor(() => clock.pending === 1, 5000, 'the retry to be scheduled');
      assert.deepEqual(clock.scheduled, [2000]);
      await clock.advance(2000);
      assert.equal((await sending).result, 'success');
      assert.deepEqual(
        decode(receiver).map((a) => a.id),
        [sampleAlert(1).id],
      );
      await output.close();
    } finally {
      await receiver.close();
    }
  });
});

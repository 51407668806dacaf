/**
 * The `slack` output: one message per alert through an incoming webhook.
 *
 * The payload uses `text` (what notifications show) and one attachment with a colour bar for the
 * priority, the rule as title, the alert's output as text, the key facts as `fields` and the
 * alert id in the footer. Attachments with `fields` rather than Block Kit, because Mattermost and
 * Rocket.Chat accept the same payload on their Slack-compatible webhooks, and Slack still renders
 * it.
 *
 * Slack answers 429 with `Retry-After` when a webhook posts faster than about one message per
 * second; the retry decorator waits as told.
 */
import type { Alert } from '../../core/alert.js';
import type { PriorityName } from '../../core/priority.js';
import { str } from '../../core/config-schema.js';
import type { CollectorOutput } from './collector-output.js';
import { createHttpJsonOutput, httpEndpoint } from './http-json-output.js';
import {
  defineOutputType,
  httpDefaults,
  httpShape,
  httpTls,
  httpUrl,
  type OutputSettings,
} from './output-config.js';

/** The colour bar of each priority: dark red for the worst, grey for Debug. */
export const PRIORITY_COLOURS: Readonly<Record<PriorityName, string>> = {
  Emergency: '#6b0f1a',
  Alert: '#a4161a',
  Critical: '#d62828',
  Error: '#e85d04',
  Warning: '#f4a261',
  Notice: '#2a9d8f',
  Informational: '#457b9d',
  Debug: '#adb5bd',
};

/** Output fields shown as their own attachment fields, in this order, when the alert has them. */
const KEY_FIELDS = [
  'proc.cmdline',
  'proc.exepath',
  'user.name',
  'fd.name',
  'container.id',
  'container.image.repository',
] as const;

/** The longest value shown in a field; the full alert is one click away in the console. */
const MAX_FIELD_CHARS = 300;

/** Who the messages appear to come from, and where they go (webhooks may ignore `channel`). */
export interface SlackOptions {
  readonly webhookUrl: URL;
  readonly channel?: string;
  readonly username?: string;
  readonly iconUrl?: string;
  readonly timeoutMs: number;
  readonly ca?: string;
  readonly rejectUnauthorized?: boolean;
}

/** Slack's three characters with meaning in message text, escaped as its API requires. */
function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(text: string): string {
  return text.length > MAX_FIELD_CHARS ? `${text.slice(0, MAX_FIELD_CHARS - 1)}…` : text;
}

function printable(value: unknown): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The incoming-webhook payload for one alert.
 *
 * @example slackPayload(alert, { username: 'Vigil' }).attachments[0].color === '#d62828' // Critical
 */
export function slackPayload(
  alert: Alert,
  options: Pick<SlackOptions, 'channel' | 'username' | 'iconUrl'> = {},
): Record<string, unknown> & { attachments: Record<string, unknown>[] } {
  const fields: { title: string; value: string; short: boolean }[] = [];
  const add = (title: string, value: unknown, short = true): void => {
    const text = printable(value);
    if (text !== undefined) fields.push({ title, value: escapeText(clip(text)), short });
  };
  const of = alert.output_fields;
  add('priority', alert.priority);
  add('node', alert.node);
  add('namespace', alert.workload?.namespace ?? of['k8s.ns.name']);
  add('pod', alert.workload?.pod ?? of['k8s.pod.name']);
  add('image', alert.workload?.image ?? of['container.image.repository']);
  if (alert.kind === 'anomaly') {
    add('anomaly score', alert.score?.toFixed(2));
    add('why', alert.reasons?.join('\n'), false);
  }
  for (const key of KEY_FIELDS) {
    if (key === 'container.image.repository' && fields.some((f) => f.title === 'image')) continue;
    add(key, of[key], key !== 'proc.cmdline' && key !== 'fd.name');
  }
  add('tags', alert.tags.join(', '), false);

  const seconds = Math.floor(Date.parse(alert.time) / 1000);
  const summary = `[${alert.priority}] ${alert.rule} on ${alert.node}`;
  return {
    text: escapeText(summary),
    ...(options.channel !== undefined ? { channel: options.channel } : {}),
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.iconUrl !== undefined ? { icon_url: options.iconUrl } : {}),
    attachments: [
      {
        fallback: escapeText(`${summary}: ${alert.output}`),
        color: PRIORITY_COLOURS[alert.priority] ?? PRIORITY_COLOURS.Debug,
        title: escapeText(alert.rule),
        text: escapeText(alert.output),
        fields,
        footer: escapeText(`Vigil · ${alert.source} · ${alert.id}`),
        ...(Number.isFinite(seconds) ? { ts: seconds } : {}),
      },
    ],
  };
}

/**
 * Creates a bare Slack output (no retry; see {@link withRetry}).
 *
 * @example createSlackOutput({ name: 'slack', minPriority: Priority.Error, queueSize: 1000 }, { webhookUrl, timeoutMs: 10_000 })
 */
export function createSlackOutput(
  settings: Pick<OutputSettings, 'name' | 'minPriority' | 'queueSize'>,
  options: SlackOptions,
): CollectorOutput {
  return createHttpJsonOutput(settings, {
    type: 'slack',
    // A message per alert: a retry then never posts an alert twice.
    maxBatch: 1,
    endpoint: httpEndpoint(options.webhookUrl, 'POST', {}, options),
    encode: (batch) => JSON.stringify(slackPayload(batch[0] as Alert, options)),
  });
}

/** Registry entry: `type: slack`. */
export const slackOutputType = defineOutputType({
  type: 'slack',
  description:
    'one Slack message per alert through an incoming webhook (Mattermost and Rocket.Chat accept it too)',
  example: {
    type: 'slack',
    webhook_url: 'https://hooks.slack.com/services/T000/B000/XXXX',
    min_priority: 'error',
  },
  shape: {
    webhook_url: httpUrl(),
    channel: str(),
    username: str(),
    icon_url: str(),
    ...httpShape,
  },
  defaults: { channel: '', username: 'Vigil', icon_url: '', ...httpDefaults },
  create(settings, o) {
    return createSlackOutput(settings, {
      webhookUrl: o.webhook_url,
      ...(o.channel !== '' ? { channel: o.channel } : {}),
      ...(o.username !== '' ? { username: o.username } : {}),
      ...(o.icon_url !== '' ? { iconUrl: o.icon_url } : {}),
      timeoutMs: o.timeout,
      ...httpTls(settings, o),
    });
  },
});

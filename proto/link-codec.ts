/**
 * The converter between the link's wire messages (`vigil/v1/link.proto`, via protobufjs) and the
 * plain values of `link-messages.ts` and core {@link Alert}s. It is the only module that touches
 * protobuf objects: everything else sends and receives the plain values.
 *
 * Mapping of an alert:
 * - `priority`: Falco's name (`"Critical"`) <-> `PRIORITY_CRITICAL` (the wire enum is Falco's
 *   numbering plus one, zero being UNSPECIFIED);
 * - `kind`: `signature` | `anomaly` <-> `ALERT_KIND_*`;
 * - `output_fields` <-> `output_fields_json`, JSON text of the object;
 * - `workload`: only the keys that have a value are set on either side;
 * - `score` (proto3 optional) and `reasons` are present only when the alert has them.
 *
 * A Hello's `quarantines` report keeps its presence: absent (not reported) decodes to no key,
 * present and empty (holds none) to an empty report.
 *
 * Decoding never throws. A message that is not protobuf, or lacks what its payload must have,
 * decodes to `{ type: 'unreadable', reason }`; a payload this code does not know (from a newer
 * peer) to `{ type: 'unknown' }`. An alert that cannot be read does not spoil its batch: it is
 * listed in the batch's `rejected` with the reason, and the others decode.
 */
import type { Alert, AlertWorkload } from '../core/alert.js';
import { parsePriority, priorityName, type Priority } from '../core/priority.js';
import type {
  AgentMessage,
  CollectorMessage,
  CommandAction,
  CommandOutcome,
  LinkHostFacts,
  QuarantineReport,
  ReceivedAgentMessage,
  ReceivedCollectorMessage,
  ReceivedCommand,
  Rejection,
} from './link-messages.js';
import { linkTypes } from './link-proto.js';

// ---- Wire shapes: what protobufjs objects look like (camelCase fields, enums as numbers). ----
// uint64 fields decode as Long objects; they are written as numbers.

interface LongLike {
  toNumber(): number;
}
type WireU64 = number | LongLike | null | undefined;

interface WireWorkload {
  namespace?: string;
  ownerKind?: string;
  ownerName?: string;
  pod?: string;
  container?: string;
  image?: string;
}

interface WireAlert {
  id?: string;
  time?: string;
  rule?: string;
  priority?: number;
  output?: string;
  outputFieldsJson?: string;
  source?: string;
  tags?: string[];
  hostname?: string;
  kind?: number;
  node?: string;
  score?: number | null;
  reasons?: string[];
  workload?: WireWorkload | null;
}

interface WireHostFacts {
  hostname?: string;
  os?: string;
  kernel?: string;
  arch?: string;
  cpus?: number;
  memoryBytes?: WireU64;
  source?: string;
}

interface WireRejection {
  alertId?: string;
  reason?: string;
}

interface WireCommand {
  id?: string;
  action?: string;
  quarantine?: {
    quarantineId?: string;
    namespace?: string;
    pod?: string;
    podUid?: string;
    cutEstablished?: boolean;
    freeze?: boolean;
    reason?: string;
  } | null;
  release?: { quarantineId?: string; namespace?: string; pod?: string } | null;
}

interface WireQuarantineReport {
  held?: {
    quarantineId?: string;
    namespace?: string;
    pod?: string;
    podUid?: string;
    appliedUnixMs?: WireU64;
  }[];
  omitted?: number;
}

interface WireAgentMessage {
  payload?: string;
  hello?: {
    node?: string;
    agentVersion?: string;
    host?: WireHostFacts | null;
    protocolVersion?: number;
    capabilities?: string[];
    // null (protobufjs' default for an absent message field): not reported.
    quarantines?: WireQuarantineReport | null;
  };
  alerts?: { batchId?: WireU64; alerts?: WireAlert[]; resent?: boolean };
  commandResult?: { commandId?: string; outcome?: number; detail?: string };
  heartbeat?: {
    sentUnixMs?: WireU64;
    spoolDepth?: WireU64;
    spoolDropped?: WireU64;
    eventsTotal?: WireU64;
  };
  baselineDelta?: { workloadKey?: string; delta?: Uint8Array };
}

interface WireCollectorMessage {
  payload?: string;
  welcome?: {
    collectorVersion?: string;
    maxBatchAlerts?: number;
    maxMessageBytes?: number;
    heartbeatIntervalMs?: number;
  };
  ack?: { batchId?: WireU64; stored?: number; duplicates?: number; rejected?: WireRejection[] };
  command?: WireCommand;
  config?: { version?: WireU64; rules?: { name?: string; text?: string }[] };
  baseline?: { workloadKey?: string; profile?: Uint8Array };
}

// ---- Enums ----

const KIND_SIGNATURE = 1;
const KIND_ANOMALY = 2;

const OUTCOMES: readonly CommandOutcome[] = [
  'applied',
  'already-applied',
  'not-on-this-node',
  'failed',
  'released',
];

/** Falco's numbering starts at 0 (Emergency); the wire's at 1, zero being UNSPECIFIED. */
function priorityToWire(name: string): number {
  const p = parsePriority(name);
  return p === undefined ? 0 : p + 1;
}

function outcomeToWire(outcome: CommandOutcome): number {
  return OUTCOMES.indexOf(outcome) + 1;
}

// ---- Helpers ----

function u64(value: WireU64): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

function str(value: string | null | undefined): string {
  return value ?? '';
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** JSON text of output fields; a bigint (not JSON) is written as its decimal digits. */
function fieldsJson(fields: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---- Alerts ----

function alertToWire(alert: Alert): WireAlert {
  const wire: WireAlert = {
    id: alert.id,
    time: alert.time,
    rule: alert.rule,
    priority: priorityToWire(alert.priority),
    output: alert.output,
    outputFieldsJson: fieldsJson(alert.output_fields),
    source: alert.source,
    tags: [...alert.tags],
    hostname: alert.hostname,
    kind: alert.kind === 'anomaly' ? KIND_ANOMALY : alert.kind === 'signature' ? KIND_SIGNATURE : 0,
    node: alert.node,
  };
  if (alert.score !== undefined) wire.score = alert.score;
  if (alert.reasons !== undefined && alert.reasons.length > 0) wire.reasons = [...alert.reasons];
  if (alert.workload !== undefined) wire.workload = { ...alert.workload };
  return wire;
}

function workloadFromWire(wire: WireWorkload): AlertWorkload | undefined {
  const out: Record<string, string> = {};
  for (const key of ['namespace', 'ownerKind', 'ownerName', 'pod', 'container', 'image'] as const) {
    const value = wire[key];
    if (value !== undefined && value !== '') out[key] = value;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

type AlertOrRejection = { readonly alert: Alert } | { readonly rejection: Rejection };

function alertFromWire(wire: WireAlert): AlertOrRejection {
  const id = str(wire.id);
  const reject = (reason: string): AlertOrRejection => ({ rejection: { alertId: id, reason } });
  if (id === '') return reject('the alert has no id');
  const p = wire.priority ?? 0;
  if (!Number.isInteger(p) || p < 1 || p > 8) return reject(`unknown priority ${p}`);
  const kind =
    wire.kind === KIND_SIGNATURE ? 'signature' : wire.kind === KIND_ANOMALY ? 'anomaly' : undefined;
  if (kind === undefined) return reject(`unknown kind ${wire.kind ?? 0}`);
  const time = str(wire.time);
  if (Number.isNaN(Date.parse(time))) return reject(`time ${JSON.stringify(time)} is not an ISO-8601 time`);
  let fields: unknown = {};
  const json = str(wire.outputFieldsJson);
  if (json !== '') {
    try {
      fields = JSON.parse(json);
    } catch (err) {
      return reject(`output_fields_json is not JSON: ${errText(err)}`);
    }
  }
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    return reject('output_fields_json is not a JSON object');
  }
  const score = wire.score;
  if (score !== undefined && score !== null && !Number.isFinite(score))
    return reject(`score ${score} is not finite`);

  const alert: {
    -readonly [K in keyof Alert]: Alert[K];
  } = {
    time,
    rule: str(wire.rule),
    priority: priorityName((p - 1) as Priority),
    output: str(wire.output),
    output_fields: fields as Record<string, unknown>,
    source: str(wire.source),
    tags: [...(wire.tags ?? [])],
    hostname: str(wire.hostname),
    id,
    kind,
    node: str(wire.node),
  };
  if (score !== undefined && score !== null) alert.score = score;
  if (wire.reasons !== undefined && wire.reasons.length > 0) alert.reasons = [...wire.reasons];
  const workload =
    wire.workload === undefined || wire.workload === null ? undefined : workloadFromWire(wire.workload);
  if (workload !== undefined) alert.workload = workload;
  return { alert };
}

function hostFromWire(wire: WireHostFacts | null | undefined): LinkHostFacts {
  return {
    hostname: str(wire?.hostname),
    os: str(wire?.os),
    kernel: str(wire?.kernel),
    arch: str(wire?.arch),
    cpus: wire?.cpus ?? 0,
    memoryBytes: u64(wire?.memoryBytes),
    source: str(wire?.source),
  };
}

function reportToWire(report: QuarantineReport): WireQuarantineReport {
  return {
    held: report.held.map((q) => ({
      quarantineId: q.quarantineId,
      namespace: q.namespace,
      pod: q.pod,
      podUid: q.podUid,
      appliedUnixMs: q.appliedMs,
    })),
    omitted: report.omitted,
  };
}

function reportFromWire(wire: WireQuarantineReport): QuarantineReport {
  return {
    held: (wire.held ?? []).map((q) => ({
      quarantineId: str(q.quarantineId),
      namespace: str(q.namespace),
      pod: str(q.pod),
      podUid: str(q.podUid),
      appliedMs: u64(q.appliedUnixMs),
    })),
    omitted: wire.omitted ?? 0,
  };
}

function actionToWire(action: CommandAction): Pick<WireCommand, 'quarantine' | 'release'> {
  switch (action.type) {
    case 'quarantine':
      return {
        quarantine: {
          quarantineId: action.quarantineId,
          namespace: action.namespace,
          pod: action.pod,
          podUid: action.podUid,
          cutEstablished: action.cutEstablished,
          freeze: action.freeze,
          reason: action.reason,
        },
      };
    case 'release':
      return { release: { quarantineId: action.quarantineId, namespace: action.namespace, pod: action.pod } };
  }
}

function commandFromWire(wire: WireCommand): ReceivedCommand {
  const id = str(wire.id);
  if (wire.action === 'quarantine' && wire.quarantine) {
    const q = wire.quarantine;
    return {
      id,
      action: {
        type: 'quarantine',
        quarantineId: str(q.quarantineId),
        namespace: str(q.namespace),
        pod: str(q.pod),
        podUid: str(q.podUid),
        cutEstablished: q.cutEstablished ?? false,
        freeze: q.freeze ?? false,
        reason: str(q.reason),
      },
    };
  }
  if (wire.action === 'release' && wire.release) {
    const r = wire.release;
    return {
      id,
      action: {
        type: 'release',
        quarantineId: str(r.quarantineId),
        namespace: str(r.namespace),
        pod: str(r.pod),
      },
    };
  }
  return { id, action: { type: 'unsupported' } };
}

// ---- Agent messages ----

function agentMessageToWire(message: AgentMessage): WireAgentMessage {
  switch (message.type) {
    case 'hello': {
      const h = message.hello;
      return {
        hello: {
          node: h.node,
          agentVersion: h.agentVersion,
          host: { ...h.host },
          protocolVersion: h.protocolVersion,
          capabilities: [...h.capabilities],
          ...(h.quarantines !== undefined && { quarantines: reportToWire(h.quarantines) }),
        },
      };
    }
    case 'alerts':
      return {
        alerts: {
          batchId: message.batch.batchId,
          alerts: message.batch.alerts.map(alertToWire),
          resent: message.batch.resent,
        },
      };
    case 'command-result':
      return {
        commandResult: {
          commandId: message.result.commandId,
          outcome: outcomeToWire(message.result.outcome),
          detail: message.result.detail,
        },
      };
    case 'heartbeat':
      return { heartbeat: { ...message.heartbeat } };
    case 'baseline-delta':
      return { baselineDelta: { workloadKey: message.delta.workloadKey, delta: message.delta.delta } };
  }
}

/**
 * Encodes an agent message for the wire.
 *
 * @example call.write(encodeAgentMessage({ type: 'heartbeat', heartbeat }))
 */
export function encodeAgentMessage(message: AgentMessage): Buffer {
  const type = linkTypes().agentMessage;
  return toBuffer(type.encode(agentMessageToWire(message)).finish());
}

/** Decodes an agent message; never throws (see the module comment). */
export function decodeAgentMessage(bytes: Uint8Array): ReceivedAgentMessage {
  let wire: WireAgentMessage;
  try {
    wire = linkTypes().agentMessage.decode(bytes) as unknown as WireAgentMessage;
  } catch (err) {
    return { type: 'unreadable', reason: `not an AgentMessage: ${errText(err)}` };
  }
  switch (wire.payload) {
    case 'hello': {
      const h = wire.hello ?? {};
      return {
        type: 'hello',
        hello: {
          node: str(h.node),
          agentVersion: str(h.agentVersion),
          protocolVersion: h.protocolVersion ?? 0,
          capabilities: [...(h.capabilities ?? [])],
          host: hostFromWire(h.host),
          ...(h.quarantines !== undefined &&
            h.quarantines !== null && { quarantines: reportFromWire(h.quarantines) }),
        },
      };
    }
    case 'alerts': {
      const b = wire.alerts ?? {};
      const alerts: Alert[] = [];
      const rejected: Rejection[] = [];
      for (const w of b.alerts ?? []) {
        const r = alertFromWire(w);
        if ('alert' in r) alerts.push(r.alert);
        else rejected.push(r.rejection);
      }
      return {
        type: 'alerts',
        batch: { batchId: u64(b.batchId), alerts, resent: b.resent ?? false, rejected },
      };
    }
    case 'commandResult': {
      const r = wire.commandResult ?? {};
      const outcome = OUTCOMES[(r.outcome ?? 0) - 1];
      if (outcome === undefined) {
        return {
          type: 'unreadable',
          reason: `command result for ${JSON.stringify(str(r.commandId))} has no known outcome (${r.outcome ?? 0})`,
        };
      }
      return {
        type: 'command-result',
        result: { commandId: str(r.commandId), outcome, detail: str(r.detail) },
      };
    }
    case 'heartbeat': {
      const h = wire.heartbeat ?? {};
      return {
        type: 'heartbeat',
        heartbeat: {
          sentUnixMs: u64(h.sentUnixMs),
          spoolDepth: u64(h.spoolDepth),
          spoolDropped: u64(h.spoolDropped),
          eventsTotal: u64(h.eventsTotal),
        },
      };
    }
    case 'baselineDelta': {
      const d = wire.baselineDelta ?? {};
      return {
        type: 'baseline-delta',
        delta: { workloadKey: str(d.workloadKey), delta: d.delta ?? new Uint8Array(0) },
      };
    }
    default:
      return { type: 'unknown' };
  }
}

// ---- Collector messages ----

function collectorMessageToWire(message: CollectorMessage): WireCollectorMessage {
  switch (message.type) {
    case 'welcome':
      return { welcome: { ...message.welcome } };
    case 'ack':
      return {
        ack: {
          batchId: message.ack.batchId,
          stored: message.ack.stored,
          duplicates: message.ack.duplicates,
          rejected: message.ack.rejected.map((r) => ({ alertId: r.alertId, reason: r.reason })),
        },
      };
    case 'command':
      return { command: { id: message.command.id, ...actionToWire(message.command.action) } };
    case 'config':
      return {
        config: {
          version: message.config.version,
          rules: message.config.rules.map((r) => ({ name: r.name, text: r.text })),
        },
      };
    case 'baseline':
      return { baseline: { workloadKey: message.baseline.workloadKey, profile: message.baseline.profile } };
  }
}

/** Encodes a collector message for the wire. */
export function encodeCollectorMessage(message: CollectorMessage): Buffer {
  const type = linkTypes().collectorMessage;
  return toBuffer(type.encode(collectorMessageToWire(message)).finish());
}

/** Decodes a collector message; never throws (see the module comment). */
export function decodeCollectorMessage(bytes: Uint8Array): ReceivedCollectorMessage {
  let wire: WireCollectorMessage;
  try {
    wire = linkTypes().collectorMessage.decode(bytes) as unknown as WireCollectorMessage;
  } catch (err) {
    return { type: 'unreadable', reason: `not a CollectorMessage: ${errText(err)}` };
  }
  switch (wire.payload) {
    case 'welcome': {
      const w = wire.welcome ?? {};
      return {
        type: 'welcome',
        welcome: {
          collectorVersion: str(w.collectorVersion),
          maxBatchAlerts: w.maxBatchAlerts ?? 0,
          maxMessageBytes: w.maxMessageBytes ?? 0,
          heartbeatIntervalMs: w.heartbeatIntervalMs ?? 0,
        },
      };
    }
    case 'ack': {
      const a = wire.ack ?? {};
      return {
        type: 'ack',
        ack: {
          batchId: u64(a.batchId),
          stored: a.stored ?? 0,
          duplicates: a.duplicates ?? 0,
          rejected: (a.rejected ?? []).map((r) => ({ alertId: str(r.alertId), reason: str(r.reason) })),
        },
      };
    }
    case 'command':
      return { type: 'command', command: commandFromWire(wire.command ?? {}) };
    case 'config': {
      const c = wire.config ?? {};
      return {
        type: 'config',
        config: {
          version: u64(c.version),
          rules: (c.rules ?? []).map((r) => ({ name: str(r.name), text: str(r.text) })),
        },
      };
    }
    case 'baseline': {
      const b = wire.baseline ?? {};
      return {
        type: 'baseline',
        baseline: { workloadKey: str(b.workloadKey), profile: b.profile ?? new Uint8Array(0) },
      };
    }
    default:
      return { type: 'unknown' };
  }
}

/**
 * The messages of the agent <-> collector link (`vigil/v1/link.proto`) as plain TypeScript
 * values. Code outside proto/ works with these; only the converter (`link-codec.ts`) sees the
 * protobuf side. Alerts travel as core {@link Alert}s.
 *
 * Numbers that are uint64 on the wire (batch ids, byte counts, times) are JavaScript numbers
 * here: none of them comes near 2^53.
 */
import type { Alert } from '../core/alert.js';

/**
 * The version of the link contract this code speaks (`Hello.protocol_version`). Fields added to
 * version 1 later are optional (absent means "not said"), so that older peers keep working.
 */
export const LINK_PROTOCOL_VERSION = 1;

/** Facts an agent reports about its host. */
export interface LinkHostFacts {
  readonly hostname: string;
  readonly os: string;
  readonly kernel: string;
  readonly arch: string;
  readonly cpus: number;
  readonly memoryBytes: number;
  /** The event source the agent runs, and why (`"ebpf"`, `"procfs: not root"`). */
  readonly source: string;
}

/** The agent's first message on a stream. */
export interface Hello {
  /** Must equal the node name in the agent's client certificate. */
  readonly node: string;
  readonly agentVersion: string;
  readonly protocolVersion: number;
  /** Enforcers and features the agent offers (`nftables`, `cgroup-freeze`, ...). */
  readonly capabilities: readonly string[];
  readonly host: LinkHostFacts;
  /**
   * The quarantines the agent holds active, read for this stream. Absent: not reported (an older
   * agent, or one without enforcement); the collector then reconciles nothing.
   */
  readonly quarantines?: QuarantineReport;
}

/** A quarantine an agent holds active: its record, as the agent re-applies it. */
export interface HeldQuarantine {
  readonly quarantineId: string;
  readonly namespace: string;
  readonly pod: string;
  /** The uid of the pod it was applied to; '' when not known. */
  readonly podUid: string;
  /** When the agent applied it first, ms since the epoch. */
  readonly appliedMs: number;
}

/** The quarantines an agent holds active, sent in its Hello on every new stream. */
export interface QuarantineReport {
  /** Oldest applied first. */
  readonly held: readonly HeldQuarantine[];
  /** Held but left out to keep the Hello small (the newest ones). */
  readonly omitted: number;
}

/** The collector's answer to an accepted Hello: the limits the agent must respect. */
export interface Welcome {
  readonly collectorVersion: string;
  readonly maxBatchAlerts: number;
  readonly maxMessageBytes: number;
  readonly heartbeatIntervalMs: number;
}

/** Alerts the agent sends; the collector answers each batch with an {@link Ack}. */
export interface AlertBatch {
  /** Unique per stream. */
  readonly batchId: number;
  readonly alerts: readonly Alert[];
  /** Some alerts may have reached a collector before (after a reconnect or an agent restart). */
  readonly resent: boolean;
}

/** An alert the collector could not accept, and why. */
export interface Rejection {
  readonly alertId: string;
  readonly reason: string;
}

/** A batch as the collector receives it: the alerts that decoded, and those that did not. */
export interface ReceivedAlertBatch extends AlertBatch {
  readonly rejected: readonly Rejection[];
}

/** The collector holds every alert of a batch (or rejected it): the agent may delete them. */
export interface Ack {
  readonly batchId: number;
  /** Alerts newly stored. */
  readonly stored: number;
  /** Alerts the collector already had. */
  readonly duplicates: number;
  readonly rejected: readonly Rejection[];
}

/** The agent's periodic sign of life. */
export interface Heartbeat {
  readonly sentUnixMs: number;
  readonly spoolDepth: number;
  readonly spoolDropped: number;
  readonly eventsTotal: number;
}

/** Cut a pod's network on its node (and optionally freeze it). */
export interface QuarantineAction {
  readonly type: 'quarantine';
  readonly quarantineId: string;
  readonly namespace: string;
  readonly pod: string;
  readonly podUid: string;
  /** Cut established connections too; false keeps them. */
  readonly cutEstablished: boolean;
  /** Also freeze the pod's cgroup. */
  readonly freeze: boolean;
  readonly reason: string;
}

/** Undo a quarantine on the node. */
export interface ReleaseAction {
  readonly type: 'release';
  readonly quarantineId: string;
  readonly namespace: string;
  readonly pod: string;
}

/** What a command asks the agent to do. */
export type CommandAction = QuarantineAction | ReleaseAction;

/** An action for the agent to take on its node. The same id applied twice reports `already-applied`. */
export interface Command {
  readonly id: string;
  readonly action: CommandAction;
}

/**
 * A command as the agent receives it: a newer collector may send an action this agent does not
 * know, which it must still answer (with `failed`) so the collector is not left waiting.
 */
export interface ReceivedCommand {
  readonly id: string;
  readonly action: CommandAction | { readonly type: 'unsupported' };
}

/** How a command ended on the agent. */
export type CommandOutcome = 'applied' | 'already-applied' | 'not-on-this-node' | 'failed' | 'released';

/** The agent's answer to a {@link Command}, matched to it by `commandId`. */
export interface CommandResult {
  readonly commandId: string;
  readonly outcome: CommandOutcome;
  /** Why, for `failed`; what was done, otherwise. */
  readonly detail: string;
}

/** One rule file of a {@link ConfigUpdate}. */
export interface RuleFile {
  readonly name: string;
  readonly text: string;
}

/** Configuration the collector pushes, versioned. */
export interface ConfigUpdate {
  readonly version: number;
  /** Rule files in load order; empty means "keep the agent's own". */
  readonly rules: readonly RuleFile[];
}

/** A change to one workload's learned profile. */
export interface BaselineDelta {
  readonly workloadKey: string;
  readonly delta: Uint8Array;
}

/** A workload's merged profile. */
export interface BaselineUpdate {
  readonly workloadKey: string;
  readonly profile: Uint8Array;
}

/** Everything an agent sends. */
export type AgentMessage =
  | { readonly type: 'hello'; readonly hello: Hello }
  | { readonly type: 'alerts'; readonly batch: AlertBatch }
  | { readonly type: 'command-result'; readonly result: CommandResult }
  | { readonly type: 'heartbeat'; readonly heartbeat: Heartbeat }
  | { readonly type: 'baseline-delta'; readonly delta: BaselineDelta };

/** Everything the collector sends. */
export type CollectorMessage =
  | { readonly type: 'welcome'; readonly welcome: Welcome }
  | { readonly type: 'ack'; readonly ack: Ack }
  | { readonly type: 'command'; readonly command: Command }
  | { readonly type: 'config'; readonly config: ConfigUpdate }
  | { readonly type: 'baseline'; readonly baseline: BaselineUpdate };

/** A message that could not be read (not protobuf, or a payload missing what it must have). */
export interface UnreadableMessage {
  readonly type: 'unreadable';
  readonly reason: string;
}

/** A message with no payload this code knows: sent by a newer peer, and to be ignored. */
export interface UnknownMessage {
  readonly type: 'unknown';
}

/** An agent message as the collector decodes it. */
export type ReceivedAgentMessage =
  | Exclude<AgentMessage, { readonly type: 'alerts' }>
  | { readonly type: 'alerts'; readonly batch: ReceivedAlertBatch }
  | UnreadableMessage
  | UnknownMessage;

/** A collector message as the agent decodes it. */
export type ReceivedCollectorMessage =
  | Exclude<CollectorMessage, { readonly type: 'command' }>
  | { readonly type: 'command'; readonly command: ReceivedCommand }
  | UnreadableMessage
  | UnknownMessage;

/**
 * The shapes the console reads from the collector's API (collector/api, the quarantine and
 * profile APIs). Declared here rather than imported: the browser build compiles this folder
 * alone, and these are the wire format, which the server's tests pin down.
 */

/** Falco's priorities, most severe first. */
export const PRIORITIES = [
  'Emergency',
  'Alert',
  'Critical',
  'Error',
  'Warning',
  'Notice',
  'Informational',
  'Debug',
] as const;
export type Priority = (typeof PRIORITIES)[number];

/** An alert's workload, when the agent knew it. */
export interface Workload {
  readonly namespace?: string;
  readonly ownerKind?: string;
  readonly ownerName?: string;
  readonly pod?: string;
  readonly container?: string;
  readonly image?: string;
}

/** An alert as stored: Falco's fields plus Vigil's. */
export interface Alert {
  readonly time: string;
  readonly rule: string;
  readonly priority: Priority;
  readonly output: string;
  readonly output_fields: Readonly<Record<string, unknown>>;
  readonly source: string;
  readonly tags: readonly string[];
  readonly hostname: string;
  readonly id: string;
  readonly kind: 'signature' | 'anomaly';
  readonly node: string;
  readonly score?: number;
  readonly reasons?: readonly string[];
  readonly workload?: Workload;
}

/** `GET /api/v1/alerts/:id`, and each entry of a page. */
export interface AlertRecord {
  readonly alert: Alert;
  readonly receivedMs: number;
}

/** `GET /api/v1/alerts` */
export interface AlertPage {
  readonly alerts: readonly AlertRecord[];
  readonly next: string | null;
}

/** `GET /api/v1/alerts/counts` */
export interface AlertCounts {
  readonly bucketMs: number;
  readonly fromMs: number;
  readonly toMs: number;
  readonly buckets: readonly {
    readonly startMs: number;
    readonly counts: Partial<Record<Priority, number>>;
  }[];
}

/** `GET /api/v1/whoami` */
export interface Whoami {
  readonly name: string;
  readonly role: 'viewer' | 'responder' | 'admin';
  readonly expiresMs: number | null;
}

/** One entry of `GET /api/v1/agents`. */
export interface Agent {
  readonly node: string;
  readonly version: string;
  readonly host: {
    readonly hostname: string;
    readonly os: string;
    readonly kernel: string;
    readonly arch: string;
    readonly cpus: number;
    readonly memoryBytes: number;
    readonly source: string;
  };
  readonly capabilities: readonly string[];
  readonly connected: boolean;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  readonly spoolDepth: number;
  readonly spoolDropped: number;
}

/** The state of one layer of a quarantine. */
export interface LayerState {
  readonly state: 'pending' | 'applied' | 'failed' | 'released' | 'skipped' | 'not-found';
  readonly detail: string;
  readonly updatedMs: number;
}

/** A quarantine (`/api/v1/quarantines`). */
export interface Quarantine {
  readonly id: string;
  readonly namespace: string;
  readonly pod: string;
  readonly podUid: string | null;
  readonly node: string | null;
  readonly state: 'active' | 'releasing' | 'released' | 'failed';
  readonly reason: string;
  readonly actor: string;
  readonly alertId: string | null;
  readonly createdMs: number;
  readonly releasedMs: number | null;
  readonly releaseReason: string | null;
  readonly cutEstablished: boolean;
  readonly freeze: boolean;
  readonly layers: { readonly kubernetes: LayerState; readonly node: LayerState };
}

/** One record of the audit log. */
export interface AuditRecord {
  readonly seq: number;
  readonly timeMs: number;
  readonly actor: string;
  readonly action: string;
  readonly quarantineId: string | null;
  readonly alertId: string | null;
  readonly namespace: string | null;
  readonly pod: string | null;
  readonly reason: string | null;
  readonly detail: Readonly<Record<string, unknown>>;
  readonly prevHash: string;
  readonly hash: string;
}

/** `GET /api/v1/audit/verify` */
export interface AuditVerification {
  readonly ok: boolean;
  readonly records: number;
  readonly firstBad?: number;
  readonly detail?: string;
}

export type ProfileItemKind = 'exec' | 'spawn' | 'user' | 'file_write' | 'connect' | 'listen';

/** A workload profile (`/api/v1/profiles`). */
export interface ProfileSummary {
  readonly key: string;
  readonly namespace: string;
  readonly ownerKind: string;
  readonly ownerName: string;
  readonly container: string;
  readonly image: string;
  readonly status: 'learning' | 'locked';
  readonly learningSinceMs: number;
  readonly lockedAtMs: number | null;
  readonly observedMs: number;
  readonly nodes: readonly string[];
  readonly items: readonly {
    readonly kind: ProfileItemKind;
    readonly value: string;
    readonly firstSeenMs: number;
    readonly lastSeenMs: number;
    readonly manual: boolean;
  }[];
  readonly itemCount?: number;
  readonly sizeBytes: number;
  /** Kinds holding the most items a profile keeps: new items of them are not learnt. */
  readonly full?: readonly ProfileItemKind[];
  /** Items not learnt because their kind was full (all nodes together). */
  readonly notLearned?: number;
  /** Per kind, items a merge of replicas dropped because the kind was full. */
  readonly trimmed?: Readonly<Partial<Record<ProfileItemKind, number>>>;
  /** Kinds whose `trimmed` figure is an estimate. */
  readonly trimmedEstimated?: readonly ProfileItemKind[];
}

/** The alert filter, as the list's query parameters and the feed's subscribe filter take it. */
export interface AlertFilter {
  from?: string;
  to?: string;
  priority?: string;
  rule?: string;
  tag?: string;
  node?: string;
  namespace?: string;
  pod?: string;
  kind?: string;
  q?: string;
}

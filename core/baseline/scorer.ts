/**
 * Scores what a workload just did against its locked profile: an anomaly score in [0, 1] and one
 * readable reason per thing the profile does not hold, naming the workload and how much history
 * the profile has ("`/tmp/x` never executed by payments/api in 14 days of history").
 *
 * Each unknown part of an observation has a weight (how unusual that kind of novelty is for a
 * container); the event's score combines them as independent evidence, 1 − Π(1 − wᵢ), so two
 * weak signals together outweigh one. Weights:
 *
 * | novelty                                                    | weight |
 * |------------------------------------------------------------|--------|
 * | executable not from the image (drift)                      | 1.00   |
 * | executable never run                                       | 0.90   |
 * | parent that never spawned anything spawns                  | 0.80   |
 * | known parent, new child                                    | 0.75   |
 * | listening on a new port                                    | 0.80   |
 * | connecting to a new port                                   | 0.85   |
 * | new address on a known port, few addresses known (≤ 3)     | 0.75   |
 * | new address on a known port, many known (dynamic peers)    | 0.50   |
 * | new user                                                   | 0.70   |
 * | file written in a system directory never written           | 0.80   |
 * | other file never written                                   | 0.45   |
 * | system-call sequence model                                 | its score |
 *
 * Pure; the profile's derived indexes (parents that spawned, ports, patterns) are built once per
 * profile value and cached.
 */
import {
  historyStartMs,
  itemPresent,
  boundValue,
  parseProfileKey,
  profileHas,
  spawnValue,
  UNSET_MS,
  type Profile,
  type ProfileItem,
} from './profile.js';
import {
  connectValue,
  generaliseWritePath,
  inNetwork,
  listenValue,
  parseConnectValue,
  pathPatternMatches,
} from './paths.js';

/** What one event showed a workload doing. Every part is optional. */
export interface Observation {
  /** A program started: its executable and its parent's (undefined when unknown). */
  readonly exec?: { readonly path: string; readonly parent: string | undefined };
  /** The user the process runs as. */
  readonly user?: string;
  /** A file opened for writing (or created, renamed to, made executable): its path. */
  readonly fileWrite?: string;
  readonly connect?: { readonly proto: string; readonly address: string; readonly port: number };
  readonly listen?: { readonly proto: string; readonly port: number };
  /** The executable did not come from the image: why the agent thinks so. */
  readonly drift?: { readonly path: string; readonly why: string };
  /** The system-call sequence model's score of the process's calls so far. */
  readonly sequence?: { readonly exe: string; readonly score: number };
}

/** The verdict on one observation. */
export interface AnomalyScore {
  /** 0 when the profile holds everything observed. */
  readonly score: number;
  /** One line per novelty, strongest first. */
  readonly reasons: readonly string[];
  /** The alert rule name for the strongest novelty (`Anomalous executable`, ...); '' when none. */
  readonly rule: string;
  /** What the strongest novelty is about (`exec /tmp/x`), stable over time: for de-duplication. */
  readonly subject: string;
}

/** What a scorer needs besides the profile and the observation. */
export interface ScoreContext {
  /** The time of the observation (for the history span), ms since the epoch. */
  readonly nowMs: number;
}

/** Weights of the novelties (see the module comment). */
export const WEIGHTS = Object.freeze({
  drift: 1,
  exec: 0.9,
  firstSpawn: 0.8,
  spawn: 0.75,
  listen: 0.8,
  connectPort: 0.85,
  connectFewAddresses: 0.75,
  connectManyAddresses: 0.5,
  user: 0.7,
  systemWrite: 0.8,
  write: 0.45,
});

/** Directories a container rarely writes to unless something is wrong. */
const SYSTEM_DIRS = [
  '/bin/',
  '/sbin/',
  '/usr/bin/',
  '/usr/sbin/',
  '/usr/local/bin/',
  '/lib/',
  '/lib64/',
  '/usr/lib/',
  '/etc/',
  '/root/.ssh/',
  '/boot/',
  // Kernel settings: a container writing these is trying to change the host.
  '/proc/sys/',
  '/proc/sysrq-trigger',
];

/** Addresses known on one port above which new ones weigh little. */
const FEW_ADDRESSES = 3;

/** Indexes derived from one profile value. */
interface ProfileIndex {
  readonly name: string;
  readonly historyStart: number;
  /** Executables that spawned something. */
  readonly parents: ReadonlySet<string>;
  /** `proto port` → distinct addresses connected to on it. */
  readonly portAddresses: ReadonlyMap<string, number>;
  readonly networks: readonly { proto: string; address: string; prefix: number; port: number }[];
  readonly writePatterns: readonly string[];
  readonly execPatterns: readonly string[];
}

const indexes = new WeakMap<Profile, ProfileIndex>();

/** A short name of a profile's workload for reasons: `namespace/name`, with the container when it differs. */
export function workloadName(key: string): string {
  const k = parseProfileKey(key);
  if (k.namespace === '' && k.ownerKind === '') return k.ownerName;
  if (k.ownerKind === 'Host') return `host ${k.ownerName}`;
  const base = k.namespace === '-' ? k.ownerName : `${k.namespace}/${k.ownerName}`;
  return k.container === '' || k.container === '-' || k.container === k.ownerName
    ? base
    : `${base}/${k.container}`;
}

function indexOf(p: Profile): ProfileIndex {
  let index = indexes.get(p);
  if (index !== undefined) return index;
  const parents = new Set<string>();
  const portAddresses = new Map<string, number>();
  const networks: { proto: string; address: string; prefix: number; port: number }[] = [];
  const writePatterns: string[] = [];
  const execPatterns: string[] = [];
  for (const item of p.items.values()) {
    if (!itemPresent(item)) continue;
    switch (item.kind) {
      case 'spawn': {
        const at = item.value.indexOf(' -> ');
        if (at > 0) parents.add(item.value.slice(0, at));
        break;
      }
      case 'connect': {
        const c = parseConnectValue(item.value);
        if (c === undefined) break;
        if (c.prefix !== undefined) networks.push({ ...c, prefix: c.prefix });
        const key = listenValue(c.proto, c.port);
        portAddresses.set(key, (portAddresses.get(key) ?? 0) + 1);
        break;
      }
      case 'file_write':
        if (item.value.includes('*')) writePatterns.push(item.value);
        break;
      case 'exec':
        if (item.value.includes('*')) execPatterns.push(item.value);
        break;
      default:
        break;
    }
  }
  index = {
    name: workloadName(p.key),
    historyStart: historyStartMs(p),
    parents,
    portAddresses,
    networks,
    writePatterns,
    execPatterns,
  };
  indexes.set(p, index);
  return index;
}

/** "14 days", "3 hours", "25 minutes", "40 seconds". */
export function formatSpan(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (s < 120) return plural(s, 'second');
  if (s < 2 * 3600) return plural(Math.floor(s / 60), 'minute');
  if (s < 2 * 86400) return plural(Math.floor(s / 3600), 'hour');
  return plural(Math.floor(s / 86400), 'day');
}

function baseName(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash >= 0 && slash < path.length - 1 ? path.slice(slash + 1) : path;
}

/** Whether the profile holds the executable (exactly or by a hand-added pattern). */
function knowsExec(p: Profile, index: ProfileIndex, path: string): boolean {
  return (
    profileHas(p, 'exec', boundValue(path)) || index.execPatterns.some((pat) => pathPatternMatches(pat, path))
  );
}

/** Whether the profile holds a write to `path` (generalised, or by a pattern). */
function knowsWrite(p: Profile, index: ProfileIndex, path: string): boolean {
  const value = generaliseWritePath(path);
  if (profileHas(p, 'file_write', value)) return true;
  return index.writePatterns.some((pat) => pathPatternMatches(pat, value) || pathPatternMatches(pat, path));
}

/**
 * The profile items an observation teaches (what learning adds). Drift and sequence scores
 * teach nothing here. Every value is bounded ({@link boundValue}), as scoring looks it up.
 */
export function observationItems(obs: Observation): ProfileItem[] {
  const out: ProfileItem[] = [];
  if (obs.exec !== undefined) {
    out.push({ kind: 'exec', value: boundValue(obs.exec.path) });
    if (obs.exec.parent !== undefined)
      out.push({ kind: 'spawn', value: boundValue(spawnValue(obs.exec.parent, obs.exec.path)) });
  }
  if (obs.user !== undefined) out.push({ kind: 'user', value: boundValue(obs.user) });
  if (obs.fileWrite !== undefined)
    out.push({ kind: 'file_write', value: generaliseWritePath(obs.fileWrite) });
  if (obs.connect !== undefined) {
    out.push({
      kind: 'connect',
      value: connectValue(obs.connect.proto, obs.connect.address, obs.connect.port),
    });
  }
  if (obs.listen !== undefined)
    out.push({ kind: 'listen', value: listenValue(obs.listen.proto, obs.listen.port) });
  return out;
}

const NOTHING_NEW: AnomalyScore = Object.freeze({
  score: 0,
  reasons: Object.freeze([]),
  rule: '',
  subject: '',
});

interface Finding {
  readonly weight: number;
  readonly rule: string;
  readonly reason: string;
  readonly subject: string;
}

/**
 * Scores `obs` against the profile `p` (which should be locked: a learning profile is not
 * consulted by the agent). A score of 0 with no reasons means nothing was new.
 *
 * @example
 * scoreObservation(profile, { exec: { path: '/tmp/x', parent: '/bin/sh' } }, { nowMs })
 * // { score: 0.98, rule: 'Anomalous executable', reasons: ['`/tmp/x` never executed by payments/api in 14 days of history', 'parent `sh` never spawned anything'] }
 */
export function scoreObservation(p: Profile, obs: Observation, ctx: ScoreContext): AnomalyScore {
  // Most events show nothing the profile keeps: answer those without any work.
  if (
    obs.exec === undefined &&
    obs.user === undefined &&
    obs.fileWrite === undefined &&
    obs.connect === undefined &&
    obs.listen === undefined &&
    obs.drift === undefined &&
    obs.sequence === undefined
  ) {
    return NOTHING_NEW;
  }
  const index = indexOf(p);
  const history =
    index.historyStart === UNSET_MS
      ? 'with no history'
      : `in ${formatSpan(ctx.nowMs - index.historyStart)} of history`;
  const name = index.name;
  const findings: Finding[] = [];

  if (obs.drift !== undefined) {
    findings.push({
      weight: WEIGHTS.drift,
      rule: 'Anomalous executable drift',
      subject: `drift ${obs.drift.path}`,
      reason: `\`${obs.drift.path}\` did not come from the container image (${obs.drift.why})`,
    });
  }
  if (obs.exec !== undefined) {
    const { path, parent } = obs.exec;
    if (!knowsExec(p, index, path)) {
      findings.push({
        weight: WEIGHTS.exec,
        rule: 'Anomalous executable',
        subject: `exec ${path}`,
        reason: `\`${path}\` never executed by ${name} ${history}`,
      });
    }
    if (parent !== undefined && !profileHas(p, 'spawn', boundValue(spawnValue(parent, path)))) {
      findings.push(
        index.parents.has(parent)
          ? {
              weight: WEIGHTS.spawn,
              rule: 'Anomalous process spawn',
              subject: `spawn ${spawnValue(parent, path)}`,
              reason: `parent \`${baseName(parent)}\` never spawned \`${baseName(path)}\` in ${name}`,
            }
          : {
              weight: WEIGHTS.firstSpawn,
              rule: 'Anomalous process spawn',
              subject: `spawn ${spawnValue(parent, path)}`,
              reason: `parent \`${baseName(parent)}\` never spawned anything`,
            },
      );
    }
  }
  if (obs.user !== undefined && !profileHas(p, 'user', boundValue(obs.user))) {
    findings.push({
      weight: WEIGHTS.user,
      rule: 'Anomalous user',
      subject: `user ${obs.user}`,
      reason: `user \`${obs.user}\` never seen in ${name} ${history}`,
    });
  }
  if (obs.fileWrite !== undefined && !knowsWrite(p, index, obs.fileWrite)) {
    const system = SYSTEM_DIRS.some((d) => obs.fileWrite?.startsWith(d) === true);
    findings.push({
      weight: system ? WEIGHTS.systemWrite : WEIGHTS.write,
      rule: 'Anomalous file write',
      subject: `file_write ${generaliseWritePath(obs.fileWrite)}`,
      reason: `\`${obs.fileWrite}\` never written by ${name} ${history}${system ? ' (a system directory)' : ''}`,
    });
  }
  if (obs.connect !== undefined) {
    const { proto, address, port } = obs.connect;
    const value = connectValue(proto, address, port);
    const known =
      profileHas(p, 'connect', value) ||
      index.networks.some(
        (n) => n.proto === proto && n.port === port && inNetwork(address, n.address, n.prefix),
      );
    if (!known) {
      const onPort = index.portAddresses.get(listenValue(proto, port)) ?? 0;
      findings.push(
        onPort === 0
          ? {
              weight: WEIGHTS.connectPort,
              rule: 'Anomalous outbound connection',
              subject: `connect ${value}`,
              reason: `\`${value}\`: ${name} never connected to port ${port}/${proto} ${history}`,
            }
          : {
              weight: onPort <= FEW_ADDRESSES ? WEIGHTS.connectFewAddresses : WEIGHTS.connectManyAddresses,
              rule: 'Anomalous outbound connection',
              subject: `connect ${value}`,
              reason: `\`${value}\`: a destination ${name} never used on port ${port}/${proto} (${onPort} known)`,
            },
      );
    }
  }
  if (obs.listen !== undefined && !profileHas(p, 'listen', listenValue(obs.listen.proto, obs.listen.port))) {
    findings.push({
      weight: WEIGHTS.listen,
      rule: 'Anomalous listening port',
      subject: `listen ${listenValue(obs.listen.proto, obs.listen.port)}`,
      reason: `${name} never listened on ${obs.listen.proto} port ${obs.listen.port} ${history}`,
    });
  }
  if (obs.sequence !== undefined && obs.sequence.score > 0) {
    const s = Math.min(1, obs.sequence.score);
    findings.push({
      weight: s,
      rule: 'Anomalous system call sequence',
      subject: `sequence ${obs.sequence.exe}`,
      reason: `system calls of \`${obs.sequence.exe}\` unlike those learnt for ${name} (sequence score ${s.toFixed(2)})`,
    });
  }

  if (findings.length === 0) return NOTHING_NEW;
  findings.sort((a, b) => b.weight - a.weight);
  let calm = 1;
  for (const f of findings) calm *= 1 - f.weight;
  const score = Math.min(1, Math.max(0, 1 - calm));
  return {
    score: Math.round(score * 1000) / 1000,
    reasons: findings.map((f) => f.reason),
    rule: (findings[0] as Finding).rule,
    subject: (findings[0] as Finding).subject,
  };
}

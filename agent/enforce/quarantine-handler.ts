/**
 * The agent's answer to the collector's quarantine and release commands: finds the pod on this
 * node, runs the enforcers (enforcer-registry.ts: the network cut, then the freeze when asked),
 * remembers what it did (quarantine-store.ts) and puts it back after a restart.
 *
 * Outcomes (a `CommandResult`):
 * - quarantine: `applied` (done now), `already-applied` (the same quarantine id is in place, checked
 *   in the pod, not only in the store), `not-on-this-node` (no ready sandbox with that
 *   namespace/name, or one with another uid), `failed` with the reason (nft or nsenter missing, no
 *   permission, the pod shares the node's network, a freeze that did not take...).
 * - release: `released`, with what was undone or 'nothing to release'; `failed` with the reason
 *   (the record is kept, so a retry can finish it).
 *
 * Commands run one at a time, in arrival order: a release never overtakes the quarantine it
 * undoes, and two commands never write one pod's rules at once.
 *
 * A remembered quarantine is re-applied here (at start and by the periodic check) until a
 * release removes its record. So that a release this agent missed (sent while it was away, e.g.
 * broadcast because the pod's node was not known) still arrives, the agent reports its records
 * in the Hello of every new stream (quarantine-report.ts); the collector answers those it no
 * longer holds active with an ordinary release command, handled like any other.
 */
import type { Logger } from '../../core/log.js';
import type { Command, CommandResult, QuarantineAction, ReleaseAction } from '../../proto/link-messages.js';
import type { EnforceMetrics } from './enforce-metrics.js';
import type { EnforcementTarget, PodEnforcer, QuarantineSpec } from './enforcer.js';
import { netnsIdOf, openNetns, type OpenNetns } from './netns-exec.js';
import type { LocatedPod, PodLocator } from './pod-locator.js';
import type { QuarantineStore } from './quarantine-store.js';

/** What the handler works with. */
export interface QuarantineHandlerOptions {
  readonly locator: PodLocator;
  /** In application order (createEnforcers()); the first must be the network cut. */
  readonly enforcers: readonly PodEnforcer[];
  readonly store: QuarantineStore;
  readonly logger: Logger;
  readonly metrics?: EnforceMetrics;
  /** nsenter's path and the deadline of one program run (see netns-exec.ts). */
  readonly nsenter?: string;
  readonly timeoutMs?: number;
  /**
   * The node's own network namespace, never to be cut (default /proc/1/ns/net: the node's init
   * with hostPID; the agent's DaemonSet has no hostNetwork, so its own namespace is not the
   * node's). The agent's own namespace (/proc/self/ns/net) is never cut either.
   */
  readonly hostNetns?: string;
  /**
   * How long a remembered quarantine's pod may be missing from the runtime (no ready sandbox,
   * e.g. while a rebooted node or the runtime re-creates it) before its record is dropped
   * (default 10 minutes). A pod replaced by another of the same name (another uid) drops it at once.
   */
  readonly missingGraceMs?: number;
  readonly now?: () => number;
}

/** Default of {@link QuarantineHandlerOptions.missingGraceMs}. */
export const DEFAULT_MISSING_GRACE_MS = 10 * 60_000;

/** Counts of a start-up re-apply. */
export interface ReapplySummary {
  readonly reapplied: number;
  readonly alreadyInPlace: number;
  readonly podsGone: number;
  readonly failed: number;
}

/** Runs commands; see the module comment. */
export interface QuarantineHandler {
  /** Answers one command (the shipper's `onCommand`; a plain function). Never rejects. */
  readonly handle: (command: Command) => Promise<CommandResult>;
  /**
   * Puts back every remembered quarantine whose pod is still here; drops the others. At start
   * (`reason: 'start'`) every outcome is logged; a periodic check (`'reconcile'`) logs and counts
   * only what it had to change — e.g. a pod whose sandbox the runtime re-created, with a new
   * network namespace and so without the rules.
   */
  reapplyAll(reason?: 'start' | 'reconcile'): Promise<ReapplySummary>;
}

type Outcome = CommandResult['outcome'];
interface Answer {
  readonly outcome: Outcome;
  readonly detail: string;
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Creates the handler. */
export function createQuarantineHandler(options: QuarantineHandlerOptions): QuarantineHandler {
  const log = options.logger.child({ component: 'enforce' });
  const now = options.now ?? Date.now;
  const hostNetnsIds = new Set([netnsIdOf('/proc/self/ns/net')]);
  try {
    hostNetnsIds.add(netnsIdOf(options.hostNetns ?? '/proc/1/ns/net'));
  } catch (err) {
    if (options.hostNetns !== undefined) throw err;
    log.warn("cannot open the node's network namespace (/proc/1/ns/net: hostPID and SYS_PTRACE?)", {
      err: errText(err),
    });
  }
  const missingGraceMs = options.missingGraceMs ?? DEFAULT_MISSING_GRACE_MS;
  // Remembered quarantines whose pod was not found, and since when. Keys are ids of records in
  // the store (bounded by MAX_ACTIVE_QUARANTINES); an entry goes when its pod is found again or
  // its record is dropped.
  const missingSince = new Map<string, number>();
  const execOptions = {
    ...(options.nsenter !== undefined ? { nsenter: options.nsenter } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  };
  // One command at a time (see the module comment); the chain never rejects.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  };

  function openPodNetns(pod: LocatedPod): OpenNetns {
    const netns = openNetns(pod.netnsPath, execOptions);
    if (!options.locator.confirm(pod)) {
      netns.close();
      throw new Error(
        `process ${pod.pid} of pod ${pod.namespace}/${pod.name} exited while being looked at; try again`,
      );
    }
    if (hostNetnsIds.has(netns.id)) {
      netns.close();
      throw new Error(
        `pod ${pod.namespace}/${pod.name} shares the node's network namespace (hostNetwork): cutting it would cut the node`,
      );
    }
    return netns;
  }

  async function apply(
    a: Pick<
      QuarantineAction,
      'quarantineId' | 'namespace' | 'pod' | 'podUid' | 'cutEstablished' | 'freeze' | 'reason'
    >,
    started: number,
  ): Promise<Answer> {
    const existing = options.store.get(a.quarantineId);
    const uid = a.podUid !== '' ? a.podUid : existing?.podUid;
    const lookup = await options.locator.locate(a.namespace, a.pod, uid);
    if (!lookup.found) {
      if (existing !== undefined) {
        // A sandbox that is not ready yet (node reboot, sandbox re-created) must not lose the
        // quarantine: the record goes only when the pod was replaced or stayed away long enough.
        const since = missingSince.get(a.quarantineId) ?? now();
        if (lookup.replaced === true || now() - since >= missingGraceMs) {
          missingSince.delete(a.quarantineId);
          options.store.delete(a.quarantineId);
          log.info('quarantined pod is gone from this node; record dropped', {
            quarantine: a.quarantineId,
            pod: `${a.namespace}/${a.pod}`,
            why: lookup.reason,
          });
        } else if (!missingSince.has(a.quarantineId)) {
          missingSince.set(a.quarantineId, since);
          log.info('quarantined pod is not running on this node now; record kept for its return', {
            quarantine: a.quarantineId,
            pod: `${a.namespace}/${a.pod}`,
            why: lookup.reason,
            keptMs: missingGraceMs,
          });
        }
      }
      return { outcome: 'not-on-this-node', detail: lookup.reason };
    }
    missingSince.delete(a.quarantineId);
    const pod = lookup.pod;
    const netns = openPodNetns(pod);
    try {
      const target: EnforcementTarget = { pod, netns };
      const previous = options.store.forPod(a.namespace, a.pod);
      // What this agent applied last to the pod: under this id, or the quarantine this one replaces.
      const before: QuarantineSpec | undefined = existing ?? previous;
      const inPlace: boolean[] = [];
      for (const e of options.enforcers) {
        // A layer that cannot even be checked is not in place; applying it says why.
        inPlace.push(e.wanted(a) ? await e.inPlace(target, a, existing).catch(() => false) : false);
      }
      const wanted = options.enforcers.map((e) => e.wanted(a));
      const leftover = options.enforcers.map((e) => !e.wanted(a) && before !== undefined && e.wanted(before));
      if (wanted.every((w, i) => !w || inPlace[i] === true) && !leftover.some((l) => l)) {
        const record = existing ?? { ...a, podUid: pod.uid, appliedMs: now() };
        if (existing === undefined) options.store.put(record);
        return {
          outcome: 'already-applied',
          detail: `quarantine ${a.quarantineId} is in place on pod ${pod.namespace}/${pod.name} since ${new Date(record.appliedMs).toISOString()}${a.freeze ? ' (frozen)' : ''}`,
        };
      }
      const parts: string[] = [];
      let recorded = false;
      const record = (): void => {
        if (recorded) return;
        recorded = true;
        options.store.put({
          quarantineId: a.quarantineId,
          namespace: a.namespace,
          pod: a.pod,
          podUid: pod.uid,
          cutEstablished: a.cutEstablished,
          freeze: a.freeze,
          reason: a.reason,
          appliedMs: existing?.appliedMs ?? now(),
        });
        if (previous !== undefined && previous.quarantineId !== a.quarantineId) {
          parts.push(`replaces quarantine ${previous.quarantineId}`);
        }
      };
      for (const [i, e] of options.enforcers.entries()) {
        try {
          if (wanted[i] === true && inPlace[i] !== true) {
            parts.push(await e.apply(target, a));
          } else if (wanted[i] === true) {
            parts.push(`${e.name} already in place`);
          } else if (leftover[i] === true && before !== undefined) {
            const undone = await e.remove(target, before);
            if (undone !== undefined) parts.push(`${undone.detail} (the new quarantine does not ask for it)`);
          }
        } catch (err) {
          // Nothing done yet: nothing to remember. Otherwise the earlier layers stand (and are
          // remembered, so a release or a retry finds them).
          if (!recorded) throw err;
          return { outcome: 'failed', detail: `${parts.join('; ')}; but ${e.name} failed: ${errText(err)}` };
        }
        // The pod is under quarantine from the first layer on: remember it from then.
        if (wanted[i] === true) record();
      }
      options.metrics?.applySeconds.observe((now() - started) / 1000);
      return {
        outcome: 'applied',
        detail: `${parts.join('; ')} on pod ${pod.namespace}/${pod.name} (uid ${pod.uid}) in ${now() - started} ms`,
      };
    } finally {
      netns.close();
    }
  }

  async function release(a: ReleaseAction): Promise<Answer> {
    const record = options.store.get(a.quarantineId);
    missingSince.delete(a.quarantineId);
    const lookup = await options.locator.locate(a.namespace, a.pod, record?.podUid);
    if (!lookup.found) {
      if (record !== undefined) {
        options.store.delete(a.quarantineId);
        return { outcome: 'released', detail: `${lookup.reason}: nothing left to undo; record dropped` };
      }
      return { outcome: 'released', detail: `nothing to release (${lookup.reason})` };
    }
    const pod = lookup.pod;
    const netns = openPodNetns(pod);
    try {
      const target: EnforcementTarget = { pod, netns };
      // Without a record, only what carries this quarantine's id can be found (its rules).
      const spec: QuarantineSpec = record ?? {
        quarantineId: a.quarantineId,
        cutEstablished: true,
        freeze: false,
      };
      const parts: string[] = [];
      let undone = false;
      for (const e of [...options.enforcers].reverse()) {
        if (!e.wanted(spec)) continue;
        let result;
        try {
          result = await e.remove(target, spec);
        } catch (err) {
          // The record stays: a retry finishes the job.
          const done = parts.length > 0 ? `${parts.join('; ')}; but ` : '';
          return { outcome: 'failed', detail: `${done}${e.name} could not be undone: ${errText(err)}` };
        }
        if (result === undefined) continue;
        undone ||= result.undone;
        parts.push(result.detail);
      }
      if (record === undefined && !undone) return { outcome: 'released', detail: 'nothing to release' };
      options.store.delete(a.quarantineId);
      return {
        outcome: 'released',
        detail: `pod ${pod.namespace}/${pod.name}: ${parts.length > 0 ? parts.join('; ') : 'nothing of it was left in the pod'}`,
      };
    } finally {
      netns.close();
    }
  }

  async function run(action: string, task: () => Promise<Answer>): Promise<Answer> {
    let answer: Answer;
    try {
      answer = await task();
    } catch (err) {
      answer = { outcome: 'failed', detail: errText(err) };
    }
    options.metrics?.commands.inc({ action, outcome: answer.outcome });
    return answer;
  }

  return {
    handle(command) {
      const started = now();
      return serial(async () => {
        const action = command.action;
        const answer =
          action.type === 'quarantine'
            ? await run('quarantine', () => apply(action, started))
            : await run('release', () => release(action));
        const fields = {
          command: command.id,
          quarantine: action.quarantineId,
          pod: `${action.namespace}/${action.pod}`,
        };
        if (answer.outcome === 'failed') log.warn(`${action.type} failed`, { ...fields, err: answer.detail });
        else log.info(`${action.type}: ${answer.outcome}`, { ...fields, detail: answer.detail });
        return { commandId: command.id, ...answer };
      });
    },

    reapplyAll(reason = 'start') {
      return serial(async () => {
        const summary = { reapplied: 0, alreadyInPlace: 0, podsGone: 0, failed: 0 };
        const when = reason === 'start' ? 'at start' : 'on a periodic check';
        const records = options.store.all();
        // Forget misses of records that are gone otherwise (replaced by a newer quarantine).
        const ids = new Set(records.map((r) => r.quarantineId));
        for (const id of missingSince.keys()) if (!ids.has(id)) missingSince.delete(id);
        for (const record of records) {
          let answer: Answer;
          try {
            answer = await apply(record, now());
          } catch (err) {
            answer = { outcome: 'failed', detail: errText(err) };
          }
          if (reason === 'start' || answer.outcome !== 'already-applied') {
            options.metrics?.commands.inc({
              action: reason === 'start' ? 'reapply' : 'reconcile',
              outcome: answer.outcome,
            });
          }
          const fields = {
            quarantine: record.quarantineId,
            pod: `${record.namespace}/${record.pod}`,
            detail: answer.detail,
          };
          if (answer.outcome === 'applied') {
            summary.reapplied++;
            log.info(`quarantine re-applied ${when}`, fields);
          } else if (answer.outcome === 'already-applied') {
            summary.alreadyInPlace++;
            if (reason === 'start') log.info('quarantine still in place at start', fields);
          } else if (answer.outcome === 'not-on-this-node') {
            summary.podsGone++;
          } else {
            summary.failed++;
            log.warn(`quarantine could not be re-applied ${when}`, fields);
          }
        }
        return summary;
      });
    },
  };
}

/**
 * The interface every node enforcer implements: one layer of a quarantine applied to a pod on
 * this node (its network cut, its freeze). The handler (quarantine-handler.ts) runs the enforcers
 * of the registry (enforcer-registry.ts) in order; each describes itself, says whether it can work
 * here (its name is then a capability in the agent's Hello), and applies, checks and removes its
 * layer idempotently.
 */
import type { OpenNetns } from './netns-exec.js';
import type { LocatedPod } from './pod-locator.js';

/** What a quarantine asks for, as enforcers see it. */
export interface QuarantineSpec {
  readonly quarantineId: string;
  /** Cut established connections too (true), or keep them. */
  readonly cutEstablished: boolean;
  /** Freeze the pod's processes. */
  readonly freeze: boolean;
}

/** The pod an enforcer acts on: found through the runtime, its network namespace held open. */
export interface EnforcementTarget {
  readonly pod: LocatedPod;
  readonly netns: OpenNetns;
}

/** One layer of a quarantine on the node. */
export interface PodEnforcer {
  /** Also the capability reported in the Hello when the enforcer can work here (`nftables`). */
  readonly name: string;
  /** One line for humans: what the layer does. */
  readonly description: string;
  /** Why the enforcer cannot work on this node, or undefined. Changes nothing. */
  unavailableReason(): Promise<string | undefined>;
  /** Whether `spec` asks for this layer. */
  wanted(spec: QuarantineSpec): boolean;
  /**
   * Whether the layer of `spec` is in place in the pod (checked in the pod, not remembered);
   * `previous` is what this agent applied last under the same id, if anything.
   */
  inPlace(
    target: EnforcementTarget,
    spec: QuarantineSpec,
    previous: QuarantineSpec | undefined,
  ): Promise<boolean>;
  /** Applies (or replaces) the layer and verifies it; resolves to what was done. Rejects with the reason. */
  apply(target: EnforcementTarget, spec: QuarantineSpec): Promise<string>;
  /**
   * Undoes the layer of `spec` if it is in place. Resolves to undefined when there was nothing of
   * it, else to whether something was undone and what. Leaves alone what belongs to another
   * quarantine (`undone: false`, saying so).
   */
  remove(target: EnforcementTarget, spec: QuarantineSpec): Promise<RemoveResult | undefined>;
}

/** What {@link PodEnforcer.remove} did. */
export interface RemoveResult {
  readonly undone: boolean;
  readonly detail: string;
}

/**
 * The node enforcers, in the order a quarantine applies them: the network cut first (a pod that
 * is frozen but still reachable would still be serving its connections' kernel-side state), then
 * the freeze. Release undoes them in reverse order.
 */
import { createCgroupFreezeEnforcer } from './cgroup-freeze-enforcer.js';
import type { PodEnforcer } from './enforcer.js';
import { createNftablesEnforcer } from './nftables-enforcer.js';

/** Programs and deadlines the enforcers use. */
export interface EnforcerSettings {
  /** Paths of nft, nsenter and conntrack (names are looked up on PATH; conntrack '' skips flushes). */
  readonly nft?: string;
  readonly nsenter?: string;
  readonly conntrack?: string;
  /** Deadline of one program run and of a freeze taking effect, in milliseconds. */
  readonly timeoutMs?: number;
}

/** One registered enforcer: its name and how to make it. */
interface Registration {
  readonly name: string;
  readonly create: (settings: EnforcerSettings) => PodEnforcer;
}

const registrations: readonly Registration[] = [
  {
    name: 'nftables',
    create: (s) =>
      createNftablesEnforcer({
        ...(s.nft !== undefined ? { nft: s.nft } : {}),
        ...(s.nsenter !== undefined ? { nsenter: s.nsenter } : {}),
        ...(s.conntrack !== undefined ? { conntrack: s.conntrack } : {}),
        ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
      }),
  },
  {
    name: 'cgroup-freeze',
    create: (s) => createCgroupFreezeEnforcer(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
  },
];

/** The names of the registered enforcers, in application order. */
export function enforcerNames(): string[] {
  return registrations.map((r) => r.name);
}

/** Creates every registered enforcer, in application order. */
export function createEnforcers(settings: EnforcerSettings = {}): PodEnforcer[] {
  return registrations.map((r) => r.create(settings));
}

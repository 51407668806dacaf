/**
 * The `cgroup-freeze` enforcer: freezes every process of the pod (cgroup v2 freezer, see
 * cgroup-freezer.ts) when a quarantine asks for it, and thaws them when it is released.
 */
import { createPodFreezer, type CgroupFreezerOptions } from './cgroup-freezer.js';
import type { PodEnforcer } from './enforcer.js';

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Creates the enforcer. */
export function createCgroupFreezeEnforcer(options: CgroupFreezerOptions = {}): PodEnforcer {
  const freezer = createPodFreezer(options);
  return {
    name: 'cgroup-freeze',
    description: "freezes the pod's processes (cgroup v2 cgroup.freeze on the pod's cgroup)",
    unavailableReason: () => Promise.resolve(freezer.unavailableReason()),
    wanted: (spec) => spec.freeze,
    // Deferred: a cgroup that cannot be found rejects rather than throws.
    inPlace: (target) =>
      Promise.resolve().then(() => freezer.isFrozen(freezer.podCgroupOf(target.pod.pid, target.pod.uid))),
    async apply(target) {
      const cgroup = freezer.podCgroupOf(target.pod.pid, target.pod.uid);
      if (freezer.isFrozen(cgroup)) return 'pod already frozen';
      await freezer.freeze(cgroup);
      return 'pod frozen';
    },
    async remove(target) {
      // A pod whose cgroup cannot be found cannot have been frozen through it either (the freeze
      // takes the same path): say so rather than fail a release on it.
      let cgroup: string;
      try {
        cgroup = freezer.podCgroupOf(target.pod.pid, target.pod.uid);
      } catch (err) {
        return { undone: false, detail: `not thawed: ${errText(err)}` };
      }
      if (!freezer.isFrozen(cgroup)) return undefined;
      await freezer.thaw(cgroup);
      return { undone: true, detail: 'pod thawed' };
    },
  };
}

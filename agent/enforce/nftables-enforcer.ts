/**
 * The `nftables` enforcer: the network cut of a quarantine, as a {@link PodEnforcer} over the
 * nftables table of nft-table.ts. Always wanted: every quarantine cuts the network.
 */
import type { PodEnforcer } from './enforcer.js';
import { createQuarantineTable, type QuarantineTableOptions } from './nft-table.js';
import { isCompleteQuarantine } from './nft-ruleset.js';

/** Creates the enforcer. */
export function createNftablesEnforcer(options: QuarantineTableOptions = {}): PodEnforcer {
  const nft = createQuarantineTable(options);
  return {
    name: 'nftables',
    description:
      "cuts the pod's network: a drop-all nftables table (loopback excepted) in its network namespace",
    unavailableReason: () => nft.probe(),
    wanted: () => true,
    async inPlace(target, spec, previous) {
      const installed = await nft.inspect(target.netns);
      return (
        installed !== undefined &&
        isCompleteQuarantine(installed, spec.quarantineId) &&
        (previous === undefined || previous.cutEstablished === spec.cutEstablished)
      );
    },
    async apply(target, spec) {
      const report = await nft.apply(target.netns, spec);
      if (!spec.cutEstablished) {
        const more = report.flowsNotKept > 0 ? `, ${report.flowsNotKept} more cut (too many)` : '';
        return `network cut for new connections; ${report.keptFlows} established connection(s) kept${more}`;
      }
      const flush =
        report.conntrackFlush === 'flushed'
          ? ', conntrack flushed'
          : report.conntrackFlush === 'skipped'
            ? ''
            : `, conntrack flush ${report.conntrackFlush}`;
      return `network cut (new and established connections)${flush}`;
    },
    async remove(target, spec) {
      const installed = await nft.inspect(target.netns);
      if (installed === undefined) return undefined;
      if (installed.quarantineId !== spec.quarantineId) {
        return {
          undone: false,
          detail: `left the pod's rules of quarantine ${installed.quarantineId ?? '(not Vigil)'} alone`,
        };
      }
      await nft.remove(target.netns);
      return { undone: true, detail: 'network restored' };
    },
  };
}

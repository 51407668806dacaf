/**
 * The network cut of a quarantine with nftables: installs, verifies, reads and removes the
 * `inet vigil_quarantine` table in a pod's network namespace (rules in nft-ruleset.ts).
 *
 * Every change is one `nft -f -` transaction run in the namespace through nsenter; after
 * applying, the table is listed back and checked (every hook dropping, the right quarantine id)
 * before the apply counts as done. With `cutEstablished`, conntrack's table in the namespace is
 * flushed too, so that nothing of the old connections is remembered when the cut is lifted.
 */
import {
  MAX_KEPT_FLOWS,
  QUARANTINE_TABLE,
  isCompleteQuarantine,
  parseInstalledQuarantine,
  parseProcNetTcp,
  quarantineRuleset,
  releaseRuleset,
  type InstalledQuarantine,
  type KeptFlow,
} from './nft-ruleset.js';
import { NetnsExecError, openNetns, type OpenNetns } from './netns-exec.js';

/** Paths of the programs run on the table, and the deadline of each run. */
export interface QuarantineTableOptions {
  /** Default `nft`. */
  readonly nft?: string;
  /** Default `nsenter`. */
  readonly nsenter?: string;
  /** Default `conntrack`; empty: never flush conntrack. */
  readonly conntrack?: string;
  /** Deadline of one program run, in milliseconds (default 5000). */
  readonly timeoutMs?: number;
}

/** What an apply did. */
export interface NetworkCutReport {
  /** Established connections kept by 4-tuple (`cutEstablished: false`). */
  readonly keptFlows: number;
  /** Established connections beyond {@link MAX_KEPT_FLOWS}, cut although they were to be kept. */
  readonly flowsNotKept: number;
  /** Conntrack entries were flushed (`cutEstablished: true`); a reason when that failed. */
  readonly conntrackFlush: 'flushed' | 'skipped' | `failed: ${string}`;
}

/** The quarantine table in one network namespace (the mechanism of the `nftables` enforcer). */
export interface QuarantineTable {
  /**
   * Why the enforcer cannot work on this machine (nft or nsenter missing, no permission), or
   * undefined when it can. Changes nothing.
   */
  probe(): Promise<string | undefined>;
  /** Installs (or replaces) the quarantine and verifies it. Rejects with the reason. */
  apply(
    netns: OpenNetns,
    quarantine: { readonly quarantineId: string; readonly cutEstablished: boolean },
  ): Promise<NetworkCutReport>;
  /** The quarantine installed in the namespace, or undefined when there is none. */
  inspect(netns: OpenNetns): Promise<InstalledQuarantine | undefined>;
  /** Removes the quarantine; resolves false when there was none. */
  remove(netns: OpenNetns): Promise<boolean>;
}

/** Creates the table's operations. */
export function createQuarantineTable(options: QuarantineTableOptions = {}): QuarantineTable {
  const nft = options.nft ?? 'nft';
  const conntrack = options.conntrack ?? 'conntrack';
  const { family, name } = QUARANTINE_TABLE;

  async function inspect(netns: OpenNetns): Promise<InstalledQuarantine | undefined> {
    try {
      const { stdout } = await netns.run([nft, 'list', 'table', family, name]);
      return parseInstalledQuarantine(stdout);
    } catch (err) {
      if (
        err instanceof NetnsExecError &&
        err.kind === 'failed' &&
        /No such file or directory/.test(err.message)
      )
        return undefined;
      throw err;
    }
  }

  async function establishedFlows(netns: OpenNetns): Promise<KeptFlow[]> {
    // /proc/net is the reading process's network namespace: cat runs inside the pod's.
    const { stdout } = await netns.run([
      'sh',
      '-c',
      'cat /proc/net/tcp; echo @@; cat /proc/net/tcp6 2>/dev/null',
    ]);
    const [v4 = '', v6 = ''] = stdout.split('@@\n');
    return [...parseProcNetTcp(v4, 4), ...parseProcNetTcp(v6, 6)];
  }

  return {
    async probe() {
      // Check mode parses the transaction and has the kernel validate it without committing, in
      // the agent's own namespace: it needs the same privileges as a real apply.
      const self = openNetns('/proc/self/ns/net', options);
      try {
        await self.run([nft, '-c', '-f', '-'], `add table ${family} ${name}_probe\n`);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      } finally {
        self.close();
      }
    },

    async apply(netns, quarantine) {
      let kept: KeptFlow[] = [];
      let flowsNotKept = 0;
      if (!quarantine.cutEstablished) {
        const flows = await establishedFlows(netns);
        kept = flows.slice(0, MAX_KEPT_FLOWS);
        flowsNotKept = flows.length - kept.length;
      }
      await netns.run(
        [nft, '-f', '-'],
        quarantineRuleset({
          quarantineId: quarantine.quarantineId,
          cutEstablished: quarantine.cutEstablished,
          keptFlows: kept,
        }),
      );
      const installed = await inspect(netns);
      if (installed === undefined || !isCompleteQuarantine(installed, quarantine.quarantineId)) {
        throw new Error(
          `nft accepted the quarantine table but listing it back shows ${JSON.stringify(installed ?? 'no table')}`,
        );
      }
      let conntrackFlush: NetworkCutReport['conntrackFlush'] = 'skipped';
      if (quarantine.cutEstablished && conntrack !== '') {
        try {
          await netns.run([conntrack, '-F']);
          conntrackFlush = 'flushed';
        } catch (err) {
          conntrackFlush = `failed: ${(err as Error).message}`;
        }
      }
      return { keptFlows: kept.length, flowsNotKept, conntrackFlush };
    },

    inspect,

    async remove(netns) {
      const before = await inspect(netns);
      if (before === undefined) return false;
      await netns.run([nft, '-f', '-'], releaseRuleset());
      if ((await inspect(netns)) !== undefined)
        throw new Error('nft deleted the quarantine table but it is still there');
      return true;
    },
  };
}

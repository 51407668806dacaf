/**
 * What this node tells the collector about the quarantines it holds, in the Hello of every new
 * stream (`Hello.quarantines`): each remembered record's id, pod and when it was applied. The
 * collector answers with a release for any it no longer holds active — one released while this
 * agent was away, which it would otherwise keep re-applying (quarantine-handler.ts).
 *
 * Bounded twice: by the store's own cap ({@link MAX_ACTIVE_QUARANTINES} records) and by
 * {@link MAX_REPORT_BYTES}, so that the Hello stays far below the collector's message limit
 * (4 MiB by default; a larger Hello would be refused and the agent could not connect at all).
 * Records are listed oldest first; those that do not fit are counted in `omitted`.
 */
import type { QuarantineReport } from '../../proto/link-messages.js';
import type { QuarantineStore } from './quarantine-store.js';

/** Most bytes of ids and names one report carries (about 2,500 records of the longest names). */
export const MAX_REPORT_BYTES = 1024 * 1024;

/** Wire bytes of one entry besides its strings: tags, lengths and the time. */
const ENTRY_OVERHEAD_BYTES = 24;

/**
 * The report of what `store` holds now.
 *
 * @example startShipper({ ..., quarantineReport: () => quarantineReport(store) })
 */
export function quarantineReport(
  store: Pick<QuarantineStore, 'all'>,
  maxBytes: number = MAX_REPORT_BYTES,
): QuarantineReport {
  const records = store.all();
  const held: QuarantineReport['held'][number][] = [];
  let bytes = 0;
  for (const r of records) {
    const size =
      ENTRY_OVERHEAD_BYTES +
      Buffer.byteLength(r.quarantineId) +
      Buffer.byteLength(r.namespace) +
      Buffer.byteLength(r.pod) +
      Buffer.byteLength(r.podUid);
    if (bytes + size > maxBytes) break;
    bytes += size;
    held.push({
      quarantineId: r.quarantineId,
      namespace: r.namespace,
      pod: r.pod,
      podUid: r.podUid,
      appliedMs: r.appliedMs,
    });
  }
  return { held, omitted: records.length - held.length };
}

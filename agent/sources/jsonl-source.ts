/**
 * The `jsonl` source: Falco-field JSON lines, one event per line, keyed by field name
 * (`{"evt.type":"openat","proc.name":"cat","fd.name":"/etc/shadow",...}`) — what
 * `sysdig -j -p` writes with a field list, what Vigil's own tools write, and what
 * `vigil replay` reads. Records are taken as they are, so a file gives the same events here as
 * in a replay; see `json-source.ts` for targets and options.
 */
import type { Event } from '../../core/event.js';
import type { SourceFactory } from './source.js';
import { jsonSourceFactory } from './json-source.js';

/** The jsonl mapper: the object already is the event's field record. */
export function mapJsonlRecord(record: Record<string, unknown>): Event {
  return { fields: record };
}

/** Registry entry of the `jsonl` source. */
export const jsonlSourceFactory: SourceFactory = jsonSourceFactory({
  name: 'jsonl',
  description: 'Falco-field JSON lines from a file (followed), FIFO, unix:/socket or - (stdin)',
  example: 'jsonl:/var/log/vigil/events.jsonl',
  mapper: mapJsonlRecord,
});

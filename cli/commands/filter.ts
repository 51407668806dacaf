/**
 * `vigil filter`: evaluates one Falco condition over an event stream, or answers a batch of
 * validity/match questions (the form used by conformance harnesses).
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { Event } from '../../core/event.js';
import type { FieldRegistry } from '../../core/fields/types.js';
import { createFieldRegistry } from '../../core/fields/registry.js';
import { compileFilter, type CompiledFilter } from '../../core/filter/compiler.js';
import { parseCondition } from '../../core/filter/parser.js';
import { decodeJsonEvent } from '../../core/json-event.js';
import { readLines } from '../../agent/sources/read-lines.js';
import { UsageError, type CliIO, type Command } from '../command.js';
import { OutputBuffer } from '../output-buffer.js';

const usage = `Usage: vigil filter CONDITION [FILE]
       vigil filter --batch

Prints the evt.num of every event in FILE (JSON lines keyed by Falco field names; stdin when FILE
is absent or -) that matches CONDITION, one per line. Malformed lines are counted and skipped;
the count is printed on stderr at the end.

--batch reads requests as JSON lines on stdin:
  {"condition": "...", "event": {...}, "parse_only": false}     (event and parse_only optional)
and writes one JSON line per request, in order:
  {"valid": true|false, "error": "..."}  plus "match": true|false when an event was given.
"valid" is the syntax alone when parse_only is true (macro names allowed); otherwise whether the
condition compiles against Vigil's field registry. A bad request line gets {"valid": false,
"error": ...} and never stops the batch.

Exit status: 0 on success, 1 when the condition is invalid, 2 on bad usage.`;

/** Parses and compiles a condition the way `vigil filter` does (no macros, libsinsp's depth limit). */
export function compileCondition(condition: string, registry: FieldRegistry): CompiledFilter {
  return compileFilter(parseCondition(condition), registry);
}

export const filterCommand: Command = {
  name: 'filter',
  summary: 'print the evt.num of events matching a Falco condition (or --batch checks)',
  usage,
  async run(args, io: CliIO): Promise<number> {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: { batch: { type: 'boolean', default: false } },
      allowPositionals: true,
    });
    const registry = createFieldRegistry();
    if (values.batch) {
      if (positionals.length > 0) throw new UsageError('--batch takes no arguments');
      await runBatch(io, registry);
      return 0;
    }
    const [condition, file, ...rest] = positionals;
    if (condition === undefined) throw new UsageError('missing CONDITION');
    if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest[0]}`);
    let filter: CompiledFilter;
    try {
      filter = compileCondition(condition, registry);
    } catch (err) {
      io.stderr.write(`vigil filter: invalid condition: ${(err as Error).message}\n`);
      return 1;
    }
    const input: Readable = file === undefined || file === '-' ? io.stdin : createReadStream(file);
    const out = new OutputBuffer(io.stdout);
    let malformed = 0;
    await readLines(
      input,
      {
        line(text) {
          const evt = decodeJsonEvent(text);
          if (typeof evt === 'string') {
            if (evt !== 'empty') malformed++;
            return;
          }
          if (filter.matches(evt)) out.write(`${formatEvtNum(evt)}\n`);
        },
        oversized() {
          malformed++;
        },
      },
      { afterChunk: () => out.drained() },
    );
    await out.close();
    if (malformed > 0) io.stderr.write(`vigil filter: skipped ${malformed} malformed line(s)\n`);
    return 0;
  },
};

function formatEvtNum(evt: Event): string {
  const n = evt.fields['evt.num'];
  return typeof n === 'number' || typeof n === 'string' || typeof n === 'bigint' ? String(n) : '<NA>';
}

interface BatchReply {
  valid: boolean;
  error?: string;
  match?: boolean;
}

/** Answers one batch request line. Never throws. */
export function answerBatchRequest(line: string, registry: FieldRegistry): BatchReply | undefined {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch {
    if (line.trim() === '') return undefined;
    return { valid: false, error: 'bad request line: not JSON' };
  }
  if (req === null || typeof req !== 'object' || Array.isArray(req)) {
    return { valid: false, error: 'bad request line: expected a JSON object' };
  }
  const r = req as Record<string, unknown>;
  if (typeof r['condition'] !== 'string') {
    return { valid: false, error: 'bad request line: "condition" must be a string' };
  }
  const hasEvent = r['event'] !== undefined;
  const event = r['event'];
  if (hasEvent && (event === null || typeof event !== 'object' || Array.isArray(event))) {
    return { valid: false, error: 'bad request line: "event" must be an object', match: false };
  }
  const parseOnly = r['parse_only'] === true;
  const reply: BatchReply = { valid: false };
  let filter: CompiledFilter | undefined;
  try {
    const expr = parseCondition(r['condition']);
    if (parseOnly) reply.valid = true;
    filter = compileFilter(expr, registry);
    reply.valid = true;
  } catch (err) {
    if (!reply.valid) reply.error = (err as Error).message;
  }
  if (hasEvent) {
    try {
      reply.match = filter !== undefined && filter.matches({ fields: event as Record<string, unknown> });
    } catch (err) {
      reply.match = false;
      reply.error = `evaluation failed: ${(err as Error).message}`;
    }
  }
  return reply;
}

async function runBatch(io: CliIO, registry: FieldRegistry): Promise<void> {
  const out = new OutputBuffer(io.stdout);
  await readLines(
    io.stdin,
    {
      line(text) {
        const reply = answerBatchRequest(text, registry);
        if (reply !== undefined) out.write(JSON.stringify(reply) + '\n');
      },
      oversized(bytes) {
        out.write(
          JSON.stringify({ valid: false, error: `bad request line: ${bytes} bytes is over the limit` }) +
            '\n',
        );
      },
    },
    // Flush after every input chunk: a harness that writes one request and waits for its answer
    // must get it without the batch filling a buffer first.
    {
      // Requests carry whole conditions (a rule's may be large once macros are expanded).
      maxLineBytes: 16 << 20,
      afterChunk: () => {
        out.flush();
        return out.drained();
      },
    },
  );
  await out.close();
}

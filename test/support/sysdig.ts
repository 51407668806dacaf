/**
 * Drives Debian's `sysdig` (libsinsp of 2022) as a reference implementation of Falco's filter
 * language, for differential tests on the real captures in shared/.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { decodeJsonEvent } from '../../core/json-event.js';

const run = promisify(execFile);

/** Why sysdig cannot be used here, or undefined when it can. */
export function sysdigUnavailable(): string | undefined {
  try {
    execFileSync('sysdig', ['--version'], { stdio: 'pipe' });
    return undefined;
  } catch {
    return 'sysdig is not installed (apt-get install sysdig)';
  }
}

/** The outcome of asking sysdig which events of a capture match a condition. */
export type SysdigSelection = { ok: true; nums: Set<number> } | { ok: false; error: string };

/** Returns the evt.num of every event of `capture` that sysdig selects with `condition`. */
export async function sysdigSelect(capture: string, condition: string): Promise<SysdigSelection> {
  try {
    const { stdout } = await run('sysdig', ['-r', capture, '-p', '%evt.num', condition], {
      maxBuffer: 64 << 20,
    });
    const nums = new Set<number>();
    for (const line of stdout.split('\n')) if (line !== '') nums.add(Number(line));
    return { ok: true, nums };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return { ok: false, error: (e.stderr ?? e.message).trim().split('\n')[0] ?? 'sysdig failed' };
  }
}

/** Whether sysdig can print `field` (some fields are filter-only, some unknown to 0.29). */
export async function sysdigCanDisplay(capture: string, field: string): Promise<boolean> {
  try {
    await run('sysdig', ['-r', capture, '-j', '-p', `*%evt.num %${field}`, 'evt.num=0']);
    return true;
  } catch {
    return false;
  }
}

/**
 * Exports every event of `capture` as a JSON record holding `fields` (which must all be
 * displayable), keyed by field name as Vigil's jsonl source reads them.
 */
export async function sysdigExport(
  capture: string,
  fields: readonly string[],
): Promise<Record<string, unknown>[]> {
  const format = '*' + ['evt.num', ...fields].map((f) => `%${f}`).join(' ');
  const { stdout } = await run('sysdig', ['-r', capture, '-j', '-p', format], { maxBuffer: 256 << 20 });
  const out: Record<string, unknown>[] = [];
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    // decodeJsonEvent keeps nanosecond timestamps exact (as bigint), as the agent's sources do.
    const evt = decodeJsonEvent(line);
    if (typeof evt === 'string')
      throw new Error(`sysdig wrote a line that is not a JSON object: ${line.slice(0, 200)}`);
    out.push(evt.fields);
  }
  return out;
}

/** One record as a JSON line, writing bigint values as plain JSON numbers (exactly). */
export function toJsonLine(record: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(record, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0000${v}\u0000` : v)).replace(
    /"\\u0000(\d+)\\u0000"/g,
    '$1',
  );
}

/** Runs `tasks` with at most `width` in flight; results in task order. */
export async function pool<T>(tasks: readonly (() => Promise<T>)[], width: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await (tasks[i] as () => Promise<T>)();
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
  return results;
}

/**
 * The spool's promise, tested the way it is broken in production: a real child process appends
 * to a real SQLite file and is killed with SIGKILL mid-stream. Everything the child acknowledged
 * (printed after `append()` returned) must be in the spool when it is reopened, and every batch
 * must be there whole or not at all.
 *
 * Also: a spool filled far past its bound keeps exactly the most important alerts and counts
 * every drop by priority, across a reopen.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Alert } from '../../core/alert.js';
import { parsePriority, priorityNames, type PriorityName } from '../../core/priority.js';
import { openSpool, type DroppedAlert } from '../../agent/spool/spool.js';

const writer = fileURLToPath(new URL('./fixtures/spool-writer.js', import.meta.url));

interface KillOutcome {
  /** Ids the child printed as acknowledged, in order. */
  readonly acked: string[];
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  /** The last batch the child said it was starting to append, or -1. */
  readonly lastBegun: number;
}

/**
 * Runs the writer until it has acknowledged at least `killAfter` ids, then SIGKILLs it
 * `delayMs` later. Killing at once would land just after the child printed, between appends;
 * a delay of a few milliseconds lands it somewhere in the next append or the one after.
 */
function runAndKill(
  path: string,
  prefix: string,
  batchSize: number,
  killAfter: number,
  delayMs: number,
): Promise<KillOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, path, prefix, String(batchSize)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked: string[] = [];
    let partial = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      // A line is acknowledged only once its newline arrived.
      partial = lines.pop() ?? '';
      for (const line of lines) if (line !== '') acked.push(line);
      if (!killed && acked.length >= killAfter) {
        killed = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    // 'close': the process has exited and its pipes are drained, so `acked` is final.
    child.on('close', (_code, signal) => {
      const begun = [...stderr.matchAll(/^appending (\d+)$/gm)].map((m) => Number(m[1]));
      resolve({ acked, signal, stderr, lastBegun: begun.length === 0 ? -1 : Math.max(...begun) });
    });
  });
}

function alert(id: string, priority: PriorityName): Alert {
  return {
    time: '2024-05-01T12:00:00.000000000Z',
    rule: 'Test rule',
    priority,
    output: `12:00:00.000000000: ${priority} test alert ${id}`,
    output_fields: { 'proc.name': 'sh' },
    source: 'syscall',
    tags: [],
    hostname: 'node-1',
    id,
    kind: 'signature',
    node: 'node-1',
  };
}

describe('spool across kill -9 (e2e)', function () {
  this.timeout(120_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-spool-e2e-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every acknowledged alert, and whole batches only, through repeated SIGKILLs', async () => {
    const path = join(dir, 'spool.db');
    const rounds = 8;
    let previous = new Set<string>();
    let killedInsideAppend = 0;
    for (let round = 0; round < rounds; round++) {
      const prefix = `r${round}`;
      // Small batches commit in one write to the log; large ones (several MiB, past SQLite's page
      // cache) spill pages into the log before they commit, which recovery must then ignore.
      const batchSize = round % 2 === 0 ? 250 : 6_000;
      // Different kill points each round, none on a batch boundary of the printed ids.
      const killAfter = 1_000 + round * 1_337;
      const delayMs = [2, 5, 9, 40, 13, 75, 1, 20][round] ?? 0;
      const outcome = await runAndKill(path, prefix, batchSize, killAfter, delayMs);
      assert.equal(outcome.signal, 'SIGKILL', `the writer ended by itself: ${outcome.stderr}`);
      assert.ok(outcome.acked.length >= killAfter, `only ${outcome.acked.length} acknowledged`);

      const spool = openSpool({ path, maxAlerts: 10_000_000, maxBytes: 4 * 1024 * 1024 * 1024 });
      try {
        const held = new Map<string, Alert>();
        let afterSeq = 0;
        for (;;) {
          const page = spool.peek({ limit: 5_000, afterSeq });
          if (page.length === 0) break;
          for (const { alert: a } of page) held.set(a.id, a);
          afterSeq = page[page.length - 1]!.seq;
        }
        assert.equal(held.size, spool.depth());

        const missing = outcome.acked.filter((id) => !held.has(id));
        assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged alerts lost`);
        for (const id of previous) assert.ok(held.has(id), `alert ${id} of an earlier round lost`);

        // One transaction per batch: every batch of this round is complete or absent, and the
        // batches present are 0..last with no gap.
        const perBatch = new Map<number, number>();
        for (const id of held.keys()) {
          const m = /^r(\d+)-b(\d+)-(\d+)$/.exec(id);
          assert.ok(m !== null, `unexpected id ${id}`);
          if (Number(m[1]) !== round) continue;
          perBatch.set(Number(m[2]), (perBatch.get(Number(m[2])) ?? 0) + 1);
        }
        const batches = [...perBatch.keys()].sort((a, b) => a - b);
        assert.deepEqual(
          batches,
          Array.from({ length: batches.length }, (_, i) => i),
          'a gap in the batches',
        );
        for (const [b, n] of perBatch)
          assert.equal(n, batchSize, `batch ${b} is partial: ${n} of ${batchSize}`);

        // What survived is the alerts as written.
        const sample = held.get(outcome.acked[outcome.acked.length - 1]!)!;
        assert.equal(sample.rule, 'Terminal shell in container');
        assert.ok(parsePriority(sample.priority) !== undefined);

        const thisRound = batches.length * batchSize;
        const inside = outcome.lastBegun >= batches.length;
        if (inside) killedInsideAppend++;
        console.log(
          `      round ${round} (batches of ${batchSize}): ${outcome.acked.length} acknowledged, ` +
            `${thisRound} in the spool (${thisRound - outcome.acked.length} beyond the acknowledged ones)` +
            (inside ? `; killed inside append() of batch ${outcome.lastBegun}` : ''),
        );
        previous = new Set(held.keys());
      } finally {
        spool.close();
      }
    }
    console.log(`      ${killedInsideAppend} of ${rounds} kills landed inside append()`);
  });

  it('filled far past maxAlerts, keeps exactly the most important (newest within a priority) and counts every drop', () => {
    const path = join(dir, 'full.db');
    const maxAlerts = 100;
    const names = priorityNames();
    // 400 alerts; priorities mixed so that each level arrives spread over the whole run.
    const sent = Array.from({ length: 400 }, (_, i) =>
      alert(`a${i}`, names[(i * 3 + Math.floor(i / 7)) % 8]!),
    );
    const spool = openSpool({ path, maxAlerts });
    const dropped: DroppedAlert[] = [];
    const storedIds = new Set<string>();
    try {
      for (let i = 0; i < sent.length; i += 40) {
        const batch = sent.slice(i, i + 40);
        const r = spool.append(batch);
        assert.equal(r.duplicates.length, 0);
        dropped.push(...r.dropped);
        for (const s of r.stored) storedIds.add(s.id);
        assert.ok(spool.depth() <= maxAlerts);
      }
    } finally {
      spool.close();
    }

    // The policy, stated independently of the implementation: the spool ends up holding the
    // `maxAlerts` best alerts when ranked by priority, then by recency.
    const rank = (a: Alert): number => parsePriority(a.priority)!;
    const order = sent.map((a, seq) => ({ a, seq }));
    order.sort((x, y) => rank(x.a) - rank(y.a) || y.seq - x.seq);
    const expectedKept = order
      .slice(0, maxAlerts)
      .sort((x, y) => x.seq - y.seq)
      .map((x) => x.a.id);

    const reopened = openSpool({ path, maxAlerts });
    try {
      const kept = reopened.peek({ limit: 1_000 }).map((s) => s.alert.id);
      assert.deepEqual(kept, expectedKept);

      // Every alert sent is kept or dropped exactly once, and the counters say so by priority.
      assert.equal(dropped.length, sent.length - maxAlerts);
      assert.equal(new Set(dropped.map((d) => d.id)).size, dropped.length);
      for (const d of dropped) assert.ok(!kept.includes(d.id), `${d.id} both kept and dropped`);
      const expectedDrops = Object.fromEntries(names.map((n) => [n, 0])) as Record<PriorityName, number>;
      for (const a of sent) if (!kept.includes(a.id)) expectedDrops[a.priority]++;
      const stats = reopened.stats();
      assert.deepEqual(stats.droppedByPriority, expectedDrops);
      assert.equal(stats.dropped, sent.length - maxAlerts);
      // No dropped alert is more important than a kept one.
      const keptSet = new Set(kept);
      const leastKept = Math.max(...sent.filter((a) => keptSet.has(a.id)).map(rank));
      const mostDropped = Math.min(...sent.filter((a) => !keptSet.has(a.id)).map(rank));
      assert.ok(leastKept <= mostDropped, `kept rank ${leastKept}, dropped rank ${mostDropped}`);
      assert.equal(expectedDrops.Emergency, 0);
      assert.ok(expectedDrops.Debug > 0);
      // An alert refused on arrival never shows up as stored.
      for (const d of dropped.filter((x) => x.reason === 'refused')) assert.ok(!storedIds.has(d.id));
      assert.ok(
        dropped.some((d) => d.reason === 'refused') && dropped.some((d) => d.reason === 'evicted'),
        'the run should exercise both refusals and evictions',
      );
      console.log(`      drops by priority: ${JSON.stringify(stats.droppedByPriority)}`);
    } finally {
      reopened.close();
    }
  });
});

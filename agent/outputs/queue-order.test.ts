import assert from 'node:assert/strict';
import type { Alert } from '../../core/alert.js';
import { priorityNames, type PriorityName } from '../../core/priority.js';
import { sampleAlert } from './alert-output-conformance.test.js';
import { AlertQueue, alertRank } from '../../core/alert-queue.js';

const ids = (alerts: readonly Alert[]): string[] => alerts.map((a) => a.id);

describe('AlertQueue', () => {
  it('gives alerts back in arrival order, across priorities', () => {
    const q = new AlertQueue(10);
    const sent = ['Debug', 'Critical', 'Warning', 'Critical', 'Emergency'].map((p, i) =>
      sampleAlert(`a${i}`, p as PriorityName),
    );
    for (const a of sent) assert.equal(q.push(a), undefined);
    assert.equal(q.size, 5);
    assert.deepEqual(ids(q.take(2)), ['a0', 'a1']);
    assert.deepEqual(ids(q.take(10)), ['a2', 'a3', 'a4']);
    assert.equal(q.size, 0);
    assert.deepEqual(q.take(1), []);
  });

  it('when full, drops the oldest of the least important, or the arrival if everything is more important', () => {
    const q = new AlertQueue(3);
    q.push(sampleAlert('w1', 'Warning'));
    q.push(sampleAlert('d1', 'Debug'));
    q.push(sampleAlert('d2', 'Debug'));
    assert.equal(q.push(sampleAlert('c1', 'Critical'))?.id, 'd1');
    assert.equal(q.push(sampleAlert('d3', 'Debug'))?.id, 'd2');
    assert.equal(q.push(sampleAlert('e1', 'Error'))?.id, 'd3');
    assert.equal(q.push(sampleAlert('n1', 'Notice'))?.id, 'n1');
    assert.equal(q.push(sampleAlert('w2', 'Warning'))?.id, 'w1');
    assert.deepEqual(ids(q.take(10)), ['c1', 'e1', 'w2']);
  });

  it('keeps the best alerts by priority then recency through a long overloaded run', () => {
    const capacity = 50;
    const q = new AlertQueue(capacity);
    const names = priorityNames();
    const sent = Array.from({ length: 5_000 }, (_, i) =>
      sampleAlert(`a${i}`, names[(i * 7 + (i >> 4)) % 8] ?? 'Debug'),
    );
    const dropped: string[] = [];
    for (const a of sent) {
      const d = q.push(a);
      if (d !== undefined) dropped.push(d.id);
      assert.ok(q.size <= capacity);
    }
    const expected = sent
      .map((a, order) => ({ a, order }))
      .sort((x, y) => alertRank(x.a) - alertRank(y.a) || y.order - x.order)
      .slice(0, capacity)
      .sort((x, y) => x.order - y.order)
      .map((x) => x.a.id);
    assert.deepEqual(ids(q.take(capacity)), expected);
    assert.equal(dropped.length, sent.length - capacity);
    assert.equal(new Set([...dropped, ...expected]).size, sent.length);
  });

  it('stays correct past the point where its FIFOs compact', () => {
    const q = new AlertQueue(5_000);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 3_000; i++) q.push(sampleAlert(`a${next++}`, i % 3 === 0 ? 'Error' : 'Notice'));
      for (const a of q.take(2_900)) assert.equal(a.id, `a${expected++}`);
    }
    assert.equal(q.size, next - expected);
  });

  it('treats an unknown priority as the least important and refuses a bad capacity', () => {
    const odd = { ...sampleAlert('x'), priority: 'Loud' } as unknown as Alert;
    assert.equal(alertRank(odd), 7);
    assert.equal(alertRank({ ...sampleAlert('y'), priority: 'info' as PriorityName }), 6);
    assert.throws(() => new AlertQueue(0), RangeError);
  });
});

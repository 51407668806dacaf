import assert from 'node:assert/strict';
import type { PriorityName } from '../../core/priority.js';
import { AlertQueue, alertRank as alertPriority } from '../../core/alert-queue.js';
import { sampleAlert } from './output-fixtures.test.js';

describe('output alert queue', () => {
  it('returns alerts in arrival order across priorities', () => {
    const q = new AlertQueue(10);
    const order: PriorityName[] = ['Debug', 'Critical', 'Notice', 'Critical', 'Debug'];
    order.forEach((p, i) => assert.equal(q.push(sampleAlert(i, p)), undefined));
    assert.deepEqual(
      q.take(3).map((a) => a.priority),
      ['Debug', 'Critical', 'Notice'],
    );
    assert.equal(q.size, 2);
    assert.deepEqual(
      q.take(10).map((a) => a.priority),
      ['Critical', 'Debug'],
    );
    assert.equal(q.size, 0);
  });

  it('when full, drops the oldest least severe alert, or the newcomer if it is the least severe', () => {
    const q = new AlertQueue(2);
    q.push(sampleAlert(1, 'Notice'));
    q.push(sampleAlert(2, 'Notice'));
    assert.equal(q.push(sampleAlert(3, 'Critical'))?.id, sampleAlert(1).id, 'oldest Notice makes room');
    assert.equal(
      q.push(sampleAlert(4, 'Debug'))?.id,
      sampleAlert(4).id,
      'a Debug newcomer is itself dropped',
    );
    assert.equal(q.push(sampleAlert(5, 'Notice'))?.id, sampleAlert(2).id, 'equal priority: the older goes');
    assert.deepEqual(
      q.take(5).map((a) => a.id),
      [3, 5].map((n) => sampleAlert(n).id),
    );
  });

  it('keeps its bound and order through many wraps of its rings', () => {
    const q = new AlertQueue(100);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 70; i++) q.push(sampleAlert(next++, i % 2 === 0 ? 'Warning' : 'Error'));
      for (const a of q.take(70)) assert.equal(a.id, sampleAlert(expected++).id);
    }
    assert.equal(q.size, 0);
  });

  it('reads priorities in any case, and treats an unknown one as Debug', () => {
    assert.equal(alertPriority({ ...sampleAlert(1), priority: 'warning' as PriorityName }), 4);
    assert.equal(alertPriority({ ...sampleAlert(1), priority: 'Severe' as PriorityName }), 7);
    assert.throws(() => new AlertQueue(0), /capacity must be a positive integer/);
  });
});

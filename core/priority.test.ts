import assert from 'node:assert/strict';
import {
  comparePriority,
  parsePriority,
  Priority,
  priorityAtLeast,
  priorityName,
  priorityNames,
} from './priority.js';

describe('priority', () => {
  it('parses every level case-insensitively, with Info for Informational', () => {
    assert.equal(parsePriority('Emergency'), Priority.Emergency);
    assert.equal(parsePriority('ALERT'), Priority.Alert);
    assert.equal(parsePriority('critical'), Priority.Critical);
    assert.equal(parsePriority('eRrOr'), Priority.Error);
    assert.equal(parsePriority('WARNING'), Priority.Warning);
    assert.equal(parsePriority('notice'), Priority.Notice);
    assert.equal(parsePriority('Informational'), Priority.Informational);
    assert.equal(parsePriority('INFO'), Priority.Informational);
    assert.equal(parsePriority('debug'), Priority.Debug);
  });

  it('rejects anything else', () => {
    for (const bad of ['', 'warn', 'Crit', 'informationa', ' Warning', 'high']) {
      assert.equal(parsePriority(bad), undefined, bad);
    }
  });

  it('names priorities as Falco prints them', () => {
    assert.equal(priorityName(Priority.Informational), 'Informational');
    assert.equal(priorityName(Priority.Critical), 'Critical');
    assert.deepEqual(priorityNames(), [
      'Emergency',
      'Alert',
      'Critical',
      'Error',
      'Warning',
      'Notice',
      'Informational',
      'Debug',
    ]);
    for (const name of priorityNames()) assert.equal(parsePriority(name), Priority[name]);
  });

  it('orders by severity, most severe first', () => {
    const sorted = [Priority.Debug, Priority.Critical, Priority.Warning, Priority.Emergency].sort(
      comparePriority,
    );
    assert.deepEqual(sorted.map(priorityName), ['Emergency', 'Critical', 'Warning', 'Debug']);
    assert.ok(comparePriority(Priority.Error, Priority.Notice) < 0);
    assert.equal(comparePriority(Priority.Notice, Priority.Notice), 0);
  });

  it('keeps what is at least as severe as the minimum', () => {
    assert.equal(priorityAtLeast(Priority.Critical, Priority.Warning), true);
    assert.equal(priorityAtLeast(Priority.Warning, Priority.Warning), true);
    assert.equal(priorityAtLeast(Priority.Notice, Priority.Warning), false);
    assert.equal(priorityAtLeast(Priority.Debug, Priority.Debug), true);
    assert.equal(priorityAtLeast(Priority.Emergency, Priority.Emergency), true);
  });
});

import assert from 'node:assert/strict';
import { newAlertId } from './alert-id.js';

describe('alert ids (UUIDv7)', () => {
  it('are RFC 9562 version 7 UUIDs carrying the time', () => {
    const id = newAlertId(0x0190a6f17c2e);
    assert.match(id, /^0190a6f1-7c2e-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('sort by time and never repeat', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => newAlertId(1_700_000_000_000 + Math.floor(i / 10)));
    assert.equal(new Set(ids).size, ids.length);
    for (let i = 10; i < ids.length; i += 10) assert.ok((ids[i - 10] as string) < (ids[i] as string));
  });
});

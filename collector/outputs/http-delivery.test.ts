import assert from 'node:assert/strict';
import { parseRetryAfter } from './http-delivery.js';

describe('HTTP delivery', () => {
  it('reads Retry-After as delay-seconds or an HTTP date', () => {
    const now = Date.parse('2024-05-01T12:00:00Z');
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Wed, 01 May 2024 12:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', now), 0, 'a past date means now');
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });
});

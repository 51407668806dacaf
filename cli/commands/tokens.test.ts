import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { openTokenStore } from '../../collector/auth/token-store.js';
import { openCollectorDatabase } from '../../collector/store/database.js';
import { UsageError, type CliIO } from '../command.js';
import { createTokensCommand } from './tokens.js';

function io(): { io: CliIO; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return { io: { stdin: new PassThrough(), stdout, stderr }, out: () => out, err: () => err };
}

describe('vigil tokens', () => {
  let dir: string;
  let db: string;
  let clock: number;
  const command = createTokensCommand(() => clock);
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-tokens-cli-'));
    db = join(dir, 'data', 'collector.db');
    clock = Date.UTC(2024, 4, 1, 12);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The collector's view: does this token authenticate, and as whom? */
  function whoIs(token: string): string {
    const database = openCollectorDatabase({ path: db });
    try {
      const result = openTokenStore({ database, now: () => clock }).authenticate(`Bearer ${token}`, 'viewer');
      return result.ok ? `${result.principal.name}:${result.principal.role}` : `refused ${result.status}`;
    } finally {
      database.close();
    }
  }

  it('creates a token, printing it once on stdout alone, and the collector accepts it', async () => {
    const a = io();
    assert.equal(
      await command.run(['create', '--name', 'soc-console', '--role', 'responder', '--db', db], a.io),
      0,
    );
    const token = a.out().trim();
    assert.match(token, /^vgl_[A-Za-z0-9_-]{43}$/);
    assert.match(
      a.err(),
      /created token 'soc-console' \(role responder, expires never\); it is shown only now/,
    );
    assert.equal(whoIs(token), 'soc-console:responder');
  });

  it('lists tokens without their secrets, marks expired ones, and revokes by name', async () => {
    const a = io();
    await command.run(['create', '--name', 'ci', '--role', 'viewer', '--expires', '30d', '--db', db], a.io);
    const ci = a.out().trim();
    await command.run(
      ['create', '--name', 'oncall', '--role', 'admin', '--expires', '1h', '--db', db],
      io().io,
    );
    clock += 2 * 3_600_000;
    const list = io();
    assert.equal(await command.run(['list', '--db', db], list.io), 0);
    assert.equal(
      list.out(),
      [
        'NAME    ROLE    CREATED               EXPIRES',
        'ci      viewer  2024-05-01T12:00:00Z  2024-05-31T12:00:00Z',
        'oncall  admin   2024-05-01T12:00:00Z  2024-05-01T13:00:00Z  expired',
        '',
      ].join('\n'),
    );
    assert.ok(!list.out().includes(ci.slice(4)));
    const json = io();
    await command.run(['list', '--json', '--db', db], json.io);
    assert.deepEqual(
      (JSON.parse(json.out()) as { name: string; expiresMs: number }[]).map((t) => [t.name, t.expiresMs]),
      [
        ['ci', Date.UTC(2024, 4, 31, 12)],
        ['oncall', Date.UTC(2024, 4, 1, 13)],
      ],
    );
    assert.equal(whoIs(ci), 'ci:viewer');
    assert.equal(await command.run(['revoke', 'ci', '--db', db], io().io), 0);
    assert.equal(whoIs(ci), 'refused 401');
    const again = io();
    assert.equal(await command.run(['revoke', 'ci', '--db', db], again.io), 1);
    assert.match(again.err(), /no token named 'ci'/);
  });

  it('refuses a duplicate name with exit 1, and bad usage with UsageError', async () => {
    await command.run(['create', '--name', 'dup', '--role', 'viewer', '--db', db], io().io);
    const dup = io();
    assert.equal(await command.run(['create', '--name', 'dup', '--role', 'admin', '--db', db], dup.io), 1);
    assert.match(dup.err(), /a token named 'dup' exists/);
    assert.equal(dup.out(), '');
    const bad: string[][] = [
      [],
      ['make'],
      ['create', '--role', 'viewer'],
      ['create', '--name', 'x', '--role', 'root'],
      ['create', '--name', 'x', '--role', 'viewer', '--expires', 'soon'],
      ['create', '--name', 'no spaces', '--role', 'viewer'],
      ['revoke'],
      ['list', 'extra'],
    ];
    for (const args of bad) {
      await assert.rejects(
        async () => command.run([...args, '--db', db], io().io),
        (err: unknown) => err instanceof UsageError,
        args.join(' '),
      );
    }
  });
});

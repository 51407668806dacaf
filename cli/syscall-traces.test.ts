import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TraceFileError, listTraceFiles, parseTrace, readTraces } from './syscall-traces.js';

describe('syscall trace files', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-traces-'));
    mkdirSync(join(dir, 'b'));
    mkdirSync(join(dir, 'a', 'deep'), { recursive: true });
    writeFileSync(join(dir, 'b', 'two.txt'), '1 2 3\n');
    writeFileSync(join(dir, 'a', 'deep', 'one.txt'), '6 11 45 33 192 \n');
    writeFileSync(join(dir, 'a', 'bad.txt'), '1 2\n3 x4 5\n');
    writeFileSync(join(dir, 'a', 'empty.txt'), ' \n\n');
    writeFileSync(join(dir, 'a', 'big.txt'), '1 '.repeat(100));
    writeFileSync(join(dir, '.hidden'), '1 2 3');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('parses whitespace-separated syscall numbers', () => {
    assert.deepEqual(Array.from(parseTrace(' 6 11\t45\r\n33 1023 0 ', 'f')), [6, 11, 45, 33, 1023, 0]);
  });

  it('names the file, the bad token and where it is', () => {
    assert.throws(
      () => parseTrace('1 2\n3 x4 5\n', 'trace.txt'),
      (e: unknown) =>
        e instanceof TraceFileError &&
        e.path === 'trace.txt' &&
        /trace\.txt: bad token 'x4' at call 4 \(line 2\)/.test(e.message),
    );
    assert.throws(() => parseTrace('1 1024', 'f'), /bad token '1024' at call 2/);
    assert.throws(() => parseTrace('1 -3', 'f'), /bad token '-3'/);
    assert.throws(() => parseTrace('  \n', 'f'), /f: holds no syscall numbers/);
  });

  it('lists files recursively in path order, skipping hidden ones', () => {
    assert.deepEqual(
      listTraceFiles(dir).map((p) => p.slice(dir.length + 1)),
      ['a/bad.txt', 'a/big.txt', 'a/deep/one.txt', 'a/empty.txt', 'b/two.txt'],
    );
    assert.throws(() => listTraceFiles(join(dir, 'nope')), /no such directory/);
    assert.throws(() => listTraceFiles(join(dir, 'b', 'two.txt')), /not a directory/);
  });

  it('reads the good traces and reports each bad file without stopping', () => {
    const errors: string[] = [];
    const traces = [...readTraces(dir, { maxFileBytes: 100, onError: (e) => errors.push(e.message) })];
    assert.deepEqual(
      traces.map((t) => [t.path.slice(dir.length + 1), Array.from(t.calls)]),
      [
        ['a/deep/one.txt', [6, 11, 45, 33, 192]],
        ['b/two.txt', [1, 2, 3]],
      ],
    );
    assert.equal(errors.length, 3);
    assert.match(errors[0]!, /bad\.txt: bad token 'x4'/);
    assert.match(errors[1]!, /big\.txt: is 200 bytes, more than the limit of 100/);
    assert.match(errors[2]!, /empty\.txt: holds no syscall numbers/);
  });
});

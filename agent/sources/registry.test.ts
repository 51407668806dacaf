import assert from 'node:assert/strict';
import {
  createSourceFromFlag,
  describeSources,
  findSourceFactory,
  parseSourceFlag,
  sourceFactories,
} from './registry.js';

describe('source registry', () => {
  it('lists every source once, each describing itself with an example that parses back to it', () => {
    const names = sourceFactories.map((f) => f.name);
    assert.deepEqual(names, ['jsonl', 'sysdig', 'tetragon', 'tracee', 'procfs', 'ebpf']);
    assert.equal(new Set(names).size, names.length);
    for (const f of sourceFactories) {
      assert.ok(f.description.length > 10, `${f.name} has a description`);
      const parsed = parseSourceFlag(f.example);
      assert.ok(parsed.ok && parsed.factory === f, `${f.example} names ${f.name}`);
    }
  });

  it('finds a factory by name', () => {
    assert.equal(findSourceFactory('tracee')?.name, 'tracee');
    assert.equal(findSourceFactory('falco'), undefined);
  });

  it('splits NAME:TARGET at the first colon only, and accepts a bare NAME', () => {
    const sock = parseSourceFlag('jsonl:unix:/run/vigil/events.sock', { follow: false });
    assert.ok(sock.ok);
    assert.equal(sock.factory.name, 'jsonl');
    assert.deepEqual(sock.spec, { target: 'unix:/run/vigil/events.sock', options: { follow: false } });
    const bare = parseSourceFlag('procfs');
    assert.ok(bare.ok);
    assert.equal(bare.spec.target, '');
    const stdin = parseSourceFlag('sysdig:-');
    assert.ok(stdin.ok && stdin.spec.target === '-');
  });

  it('says what is wrong with a bad flag, listing the known sources', () => {
    const unknown = parseSourceFlag('falco:/x');
    assert.ok(!unknown.ok);
    assert.match(
      unknown.error,
      /unknown source "falco" \(known: jsonl, sysdig, tetragon, tracee, procfs, ebpf\)/,
    );
    const empty = parseSourceFlag(':/x');
    assert.ok(!empty.ok);
    assert.match(empty.error, /expected NAME:TARGET/);
    assert.throws(() => createSourceFromFlag('nope'), /unknown source "nope"/);
    assert.throws(() => createSourceFromFlag('jsonl'), /needs a target/);
    assert.throws(() => createSourceFromFlag('jsonl:/x', { bogus: 1 }), /unknown option bogus/);
  });

  it('creates sources of the right kind without starting them', async () => {
    const jsonl = createSourceFromFlag('jsonl:/var/log/never-opened.jsonl');
    assert.equal(jsonl.name, 'jsonl');
    assert.equal(jsonl.fidelity, 'traced');
    const procfs = createSourceFromFlag('procfs:/proc', { intervalMs: 500 });
    assert.equal(procfs.name, 'procfs');
    assert.equal(procfs.fidelity, 'sampled');
    assert.equal(procfs.stats().events, 0);
    await jsonl.stop();
    await procfs.stop();
  });

  it('describes every source for --help, one line each', () => {
    const lines = describeSources().split('\n');
    assert.equal(lines.length, sourceFactories.length);
    assert.match(lines[0] ?? '', /^ {2}jsonl +Falco-field JSON lines .*\(e\.g\. --source jsonl:/);
  });
});

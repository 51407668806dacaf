import assert from 'node:assert/strict';
import type { Event } from '../event.js';
import { createFieldRegistry } from '../fields/registry.js';
import type { FieldDef } from '../fields/types.js';
import { compileFilter, compileValueExtractor, FilterCompileError, formatFieldValue } from './compiler.js';
import { parseCondition } from './parser.js';
import type { Expr, FieldRef, Position } from './ast.js';

const registry = createFieldRegistry();
const evt = (fields: Record<string, unknown>): Event => ({ fields });
const matches = (condition: string, fields: Record<string, unknown>): boolean =>
  compileFilter(parseCondition(condition), registry).matches(evt(fields));

function compileError(condition: string): FilterCompileError {
  try {
    compileFilter(parseCondition(condition), registry);
  } catch (err) {
    if (err instanceof FilterCompileError) return err;
    throw err;
  }
  assert.fail(`'${condition}' compiled`);
}

describe('compiler: errors', () => {
  it('names unknown fields, with the position of the field', () => {
    const err = compileError('evt.type = open and proc.nme = bash');
    assert.match(err.message, /unknown field 'proc.nme'/);
    assert.equal(err.pos.offset, 20);
    assert.equal(err.pos.column, 21);
  });

  it('checks arguments against what the field takes', () => {
    assert.match(compileError('proc.name[1] = x').message, /does not take an argument/);
    assert.match(compileError('proc.aname[x] = x').message, /numeric index/);
    assert.match(compileError('evt.arg = x').message, /requires an argument/);
    assert.match(compileError('evt.arg.flags[x] = y').message, /already names its argument/);
    assert.match(compileError('evt.rawarg.nosuch = 1').message, /unknown event argument 'nosuch'/);
  });

  it('rejects operators the type does not support', () => {
    assert.match(
      compileError('evt.num contains 1').message,
      /'contains' is not supported for numeric field 'evt.num'/,
    );
    assert.match(compileError('fd.ip < 127').message, /'<' is not supported for ip address/);
    assert.match(compileError('fd.name bcontains 00').message, /'bcontains' is not supported for string/);
    assert.match(compileError('fd.types = file').message, /not supported for list field/);
  });

  it('rejects operands that do not convert, saying what was expected', () => {
    assert.match(compileError('user.uid = abc').message, /expected a decimal integer, found 'abc'/);
    assert.match(compileError('fd.ip = 1.2.3').message, /expected an IPv4 or IPv6 address/);
    assert.match(compileError('fd.net = 10.0.0.0/40').message, /invalid netmask/);
    assert.match(compileError('evt.buffer bcontains 2g').message, /hex digits/);
    assert.match(compileError('evt.is_io = yes').message, /'true' or 'false'/);
    assert.match(compileError('proc.name regex "("').message, /invalid operand/);
    assert.match(compileError('proc.name = "a\\x00"').message, /NUL/);
  });

  it('reports unresolved macros and lists', () => {
    assert.equal(
      compileError('spawned_process and proc.name = x').message,
      'undefined macro spawned_process',
    );
    assert.equal(compileError('proc.name in shell_binaries').message, 'undefined list shell_binaries');
  });

  it('checks val() and transformer use', () => {
    assert.match(compileError('proc.name = val(evt.is_io)').message, /cannot compare/);
    assert.match(compileError('toupper(evt.rawres) = X').message, /expects a string or a buffer/);
    assert.match(compileError('toupper(evt.rawarg.res) = X').message, /does not support transformers/);
    assert.match(compileError('tolower(proc.name)[1] = x').message, /does not support field arguments/);
    assert.match(compileError('proc.name regex val(proc.pname)').message, /literal value/);
  });

  it('rejects filter-only fields in outputs', () => {
    const ref: FieldRef = { kind: 'field', name: 'fd.ip', arg: undefined, pos: at(0) };
    assert.throws(() => compileValueExtractor(ref, registry), /only in conditions/);
  });

  it('is an Error carrying its position', () => {
    const err = compileError('x.y = 1');
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'FilterCompileError');
    assert.deepEqual(err.pos, { offset: 0, line: 1, column: 1 });
  });
});

function at(offset: number): Position {
  return { offset, line: 1, column: offset + 1 };
}

describe('compiler: evaluation', () => {
  it('combines and/or/not', () => {
    const f = { 'proc.name': 'bash', 'evt.type': 'execve' };
    assert.equal(matches('proc.name = bash and evt.type = execve', f), true);
    assert.equal(matches('proc.name = sh or evt.type = execve', f), true);
    assert.equal(matches('not (proc.name = sh or evt.type = open)', f), true);
    assert.equal(matches('proc.name = sh and evt.type = execve and evt.type = execve', f), false);
  });

  it('makes every check on a missing value false, != included', () => {
    for (const c of [
      'proc.name = x',
      'proc.name != x',
      'proc.name in (x)',
      'proc.name exists',
      'user.uid != 0',
    ]) {
      assert.equal(matches(c, {}), false, c);
      assert.equal(matches(c, { 'proc.name': null, 'user.uid': null }), false, c);
    }
    assert.equal(matches('not proc.name exists', {}), true);
  });

  it('compares numbers as libsinsp reads them', () => {
    assert.equal(matches('user.uid = -1', { 'user.uid': 4294967295 }), true);
    assert.equal(matches('evt.rawres < 0', { 'evt.rawres': -2 }), true);
    assert.equal(matches('fd.sport in (53, 443)', { 'fd.sport': 443 }), true);
    assert.equal(matches('evt.num > 10', { 'evt.num': '11' }), true, 'numeric text from a source');
  });

  it('reads either end of a connection for fd.ip/fd.port/fd.net', () => {
    const conn = { 'fd.cip': '10.0.0.1', 'fd.sip': '10.0.0.2', 'fd.cport': 40000, 'fd.sport': 53 };
    assert.equal(matches('fd.ip = 10.0.0.2', conn), true);
    assert.equal(matches('fd.ip != 10.0.0.2', conn), false, '!= needs both ends to differ');
    assert.equal(matches('fd.ip != 10.9.9.9', conn), true);
    assert.equal(matches('fd.port = 53', conn), true);
    assert.equal(matches('fd.port > 50000', conn), false);
    assert.equal(matches('fd.net = 10.0.0.0/24', conn), true);
    assert.equal(matches('fd.snet = 10.0.0.2/32', conn), true);
    assert.equal(matches('fd.cnet = 10.0.0.2/32', conn), false);
    assert.equal(matches('fd.port = 53', { 'fd.sport': 53, 'fd.cport': null }), true, 'server socket');
  });

  it('matches proc.aname without index against every ancestor, from the parent up', () => {
    const f = {
      'proc.name': 'sh',
      'proc.pname': 'bash',
      'proc.aname[2]': 'sshd',
      'proc.aname[3]': 'systemd',
    };
    assert.equal(matches('proc.aname = sshd', f), true);
    assert.equal(matches('proc.aname = sh', f), false, 'the process itself is not its ancestor');
    assert.equal(matches('proc.aname in (init, systemd)', f), true);
    assert.equal(matches('proc.aname[0] = sh', f), true);
    assert.equal(matches('proc.aname[1] = bash', f), true);
    assert.equal(
      matches('proc.aname = sshd', { 'proc.aname': ['bash', 'sshd'] }),
      true,
      'an array from the source',
    );
  });

  it('derives fields a flat record lacks', () => {
    const open = {
      'evt.type': 'openat',
      'evt.dir': '<',
      'fd.name': '/etc/shadow',
      'fd.typechar': 'f',
      'evt.arg.flags': 'O_RDONLY',
    };
    assert.equal(matches('fd.directory = /etc and fd.filename = shadow', open), true);
    assert.equal(matches('evt.is_open_read = true and evt.is_open_write = false', open), true);
    assert.equal(matches('fd.typechar = f and fd.type = file', open), true);
    assert.equal(
      matches('container.image.repository = docker.io/nginx', { 'container.image': 'docker.io/nginx:1.25' }),
      true,
    );
    assert.equal(
      matches('proc.cmdline = "cat /etc/passwd"', { 'proc.name': 'cat', 'proc.args': '/etc/passwd' }),
      true,
    );
  });

  it('applies modifiers, with an empty list always false', () => {
    const f = { 'proc.name': 'myexe' };
    assert.equal(matches('proc.name startswith anyof (/x, my)', f), true);
    assert.equal(matches('proc.name contains allof (my, exe)', f), true);
    assert.equal(matches('proc.name == oneof (myexe, myexe)', f), false);
    assert.equal(matches('proc.name != oneof ()', f), false);
  });

  it('compares two fields with val()', () => {
    assert.equal(matches('proc.pname = val(proc.name)', { 'proc.name': 'a', 'proc.pname': 'a' }), true);
    assert.equal(matches('proc.pname = val(proc.name)', { 'proc.name': 'a', 'proc.pname': 'b' }), false);
    assert.equal(matches('proc.pname = val(proc.name)', { 'proc.pname': 'b' }), false);
    assert.equal(matches('evt.num > val(proc.pid)', { 'evt.num': 5, 'proc.pid': 3 }), true);
  });

  it('evaluates transformers, on either side', () => {
    const f = { 'fd.name': '/tmp/File', 'fd.directory': '/tmp', 'proc.args': '-t x -n' };
    assert.equal(matches('tolower(fd.name) = /tmp/file', f), true);
    assert.equal(matches('basename(fd.name) = File', f), true);
    assert.equal(matches('len(fd.name) > 8', f), true);
    assert.equal(matches('concat(fd.directory, "/File") = val(fd.name)', f), true);
    assert.equal(matches('toupper(fd.name) = toupper(fd.name)', f), true);
    assert.equal(matches('getopt(proc.args, "t:n")[t] = x', f), true);
    assert.equal(matches('getopt(proc.args, "t:n") intersects (n)', f), true);
  });

  it('compares bytes with hex operands and text', () => {
    const f = { 'evt.buffer': Uint8Array.of(0x68, 0x69, 0x00, 0xff) };
    assert.equal(matches('evt.buffer bcontains 6900ff', f), true);
    assert.equal(matches('evt.buffer bstartswith 69', f), false);
    assert.equal(matches('evt.buffer contains hi', f), true);
    assert.equal(matches('evt.buffer contains "sysdig"', { 'evt.buffer': 'GET / HTTP/1.1..sysdig' }), true);
  });

  it('matches \\xHH operands against invalid UTF-8 bytes in the event', () => {
    const f = { 'fd.name': Uint8Array.of(0x2f, 0x70, 0xff) };
    assert.equal(matches('fd.name endswith "\\xff"', f), true);
    assert.equal(matches('fd.name = "/p\\xfe"', f), false);
    assert.equal(matches('proc.name = "caf\\xc3\\xa9"', { 'proc.name': 'café' }), true);
  });

  it('asks the event context for fields the record lacks', () => {
    const context = {
      resolve: (field: string, arg: string | undefined): unknown =>
        field === 'k8s.ns.name' ? 'prod' : field === 'proc.aname' && arg === '3' ? 'containerd' : undefined,
    };
    const f = compileFilter(parseCondition('k8s.ns.name = prod and proc.aname[3] = containerd'), registry);
    assert.equal(f.matches({ fields: {}, context }), true);
    assert.equal(f.matches({ fields: { 'k8s.ns.name': 'dev' }, context }), false, 'the record wins');
  });

  it('uses extra fields given to the registry', () => {
    const extra: FieldDef = {
      name: 'test.answer',
      type: 'uint64',
      isList: false,
      arg: 'none',
      filterOnly: false,
      noTransformer: false,
      description: 'always 42',
      extractor: () => () => 42,
    };
    const expr: Expr = parseCondition('test.answer = 42');
    assert.equal(compileFilter(expr, createFieldRegistry([extra])).matches(evt({})), true);
  });
});

describe('compiler: values for outputs', () => {
  const ref = (name: string, arg?: string): FieldRef => ({ kind: 'field', name, arg, pos: at(0) });

  it('extracts converted values and lists', () => {
    assert.equal(compileValueExtractor(ref('proc.name'), registry)(evt({ 'proc.name': 'bash' })), 'bash');
    assert.equal(
      compileValueExtractor(ref('proc.aname', '1'), registry)(evt({ 'proc.pname': 'sshd' })),
      'sshd',
    );
    assert.equal(
      compileValueExtractor(ref('evt.arg.flags'), registry)(evt({ 'evt.arg.flags': 'O_RDONLY' })),
      'O_RDONLY',
    );
    assert.deepEqual(
      compileValueExtractor(ref('fd.types'), registry)(evt({ 'fd.types': ['ipv4', 'file'] })),
      ['ipv4', 'file'],
    );
    assert.equal(compileValueExtractor(ref('user.uid'), registry)(evt({})), undefined);
    const upper = parseCondition('toupper(proc.name) exists');
    assert.ok(upper.kind === 'unary');
    assert.equal(compileValueExtractor(upper.left, registry)(evt({ 'proc.name': 'bash' })), 'BASH');
  });

  it('formats values as Falco prints them', () => {
    assert.equal(formatFieldValue(undefined), '<NA>');
    assert.equal(formatFieldValue(null), '<NA>');
    assert.equal(formatFieldValue('x'), 'x');
    assert.equal(formatFieldValue(4294967295), '4294967295');
    assert.equal(formatFieldValue(false), 'false');
    assert.equal(formatFieldValue(['ipv4', 'file']), '(ipv4,file)');
  });
});

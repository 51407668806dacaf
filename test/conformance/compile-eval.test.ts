/**
 * Conformance of the field registry and the filter compiler with libsinsp: runs the `compile`,
 * `eval` and `transformer` cases of shared/conformance/falco-filter-cases.jsonl (taken from
 * libsinsp's own unit tests), prints the pass count per kind and every failure with its reason,
 * and requires at least 98% of them to pass.
 *
 * `eval` cases evaluate their condition on the synthetic event the libsinsp test built; the
 * `context` of each case says what it was, and {@link EVENTS} rebuilds it as a flat record per
 * test (some tests switch events part-way, hence the starting lines).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Event } from '../../core/event.js';
import { createFieldRegistry } from '../../core/fields/registry.js';
import type { FieldRegistry, FieldType } from '../../core/fields/types.js';
import { compileFilter } from '../../core/filter/compiler.js';
import { parseCondition } from '../../core/filter/parser.js';
import { applyUnaryTransformer, type UnaryTransformerName } from '../../core/filter/transformers.js';
import { requireShared } from '../support/shared.js';
import { mockFields } from './mock-fields.js';

interface Case {
  readonly kind: string;
  readonly test: string;
  readonly line: number;
  readonly condition?: string;
  readonly valid?: boolean;
  readonly expect?: boolean;
  readonly transformer?: string;
  readonly flags?: string;
  readonly in_type?: string;
  readonly input?: unknown[];
  readonly expect_output?: unknown[];
}

const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

const getcwd = { 'evt.type': 'getcwd', 'evt.dir': '>', 'evt.source': 'syscall', 'syscall.type': 'getcwd' };
const connect4 = {
  'evt.type': 'connect',
  'evt.dir': '<',
  'fd.typechar': '4',
  'fd.cip': '172.40.111.222',
  'fd.sip': '142.251.111.147',
  'fd.lip': '142.251.111.147',
  'fd.rip': '172.40.111.222',
  'fd.cport': 54321,
  'fd.sport': 443,
};
const connect6 = {
  'evt.type': 'connect',
  'evt.dir': '<',
  'fd.typechar': '6',
  'fd.cip': '::1',
  'fd.sip': '2001:4860:4860::8888',
  'fd.lip': '2001:4860:4860::8888',
  'fd.rip': '::1',
  'fd.cport': 54321,
  'fd.sport': 443,
};
const openFileToRun = {
  'evt.type': 'open',
  'evt.dir': '<',
  'evt.num': 1,
  'fd.typechar': 'f',
  'fd.name': '/tmp/file_to_run',
  'fd.directory': '/tmp',
  'fd.types': ['file'],
};
const execveMyexe = { 'evt.type': 'execve', 'evt.dir': '<', 'proc.exe': '/myexe', 'proc.name': 'myexe' };
const invalidUtf8 = {
  'evt.type': 'open',
  'evt.dir': '<',
  'fd.typechar': 'f',
  'fd.name': bytes('/p\xff/q\xff'),
  'fd.directory': bytes('/p\xff'),
  'fd.filename': bytes('q\xff'),
  'fs.path.name': bytes('/p\xff/q\xff'),
  'fs.path.source': bytes('/s\xff'),
  'fs.path.target': bytes('/t\xff'),
  'evt.arg.name': bytes('/p\xff/q\xff'),
  'evt.abspath': bytes('/tmp/a\xff'),
  'proc.name': bytes('bad\xff'),
  'proc.exe': bytes('/usr/bin/bad\xff'),
  'proc.cwd': bytes('/tmp/c\xff/'),
};

/** The synthetic events of the libsinsp tests, by test name, each from a starting line on. */
const EVENTS: Record<string, ReadonlyArray<readonly [number, Record<string, unknown>]>> = {
  boolean_evaluation: [[0, {}]],
  str_escape: [[0, {}]],
  filter_simple_evaluation: [[0, { ...getcwd, 'evt.arg.res': '0' }]],
  filter_val_transformer: [[0, { ...getcwd, 'evt.args': '' }]],
  filter_transformers_combination: [[0, getcwd]],
  filter_cache_disabled: [[0, getcwd]],
  filter_cache_enabled: [[0, getcwd]],
  filter_cache_corner_cases: [
    [
      0,
      {
        ...getcwd,
        'evt.arg[1]': '/test/dir',
        'sample.is_open': 0,
        'sample.proc_name': 'init',
        'sample.tick': 'false',
      },
    ],
  ],
  filter_cache_pointer_instability: [
    [0, { 'evt.type': 'procexit', 'evt.arg.ret': '0', 'evt.arg.reaper_tid': '1' }],
  ],
  filter_cache_unary_check_plugin_ptr_instability: [
    [0, { ...getcwd, 'sample.proc_name': 'init', 'sample.tick': 'false', 'sample.is_open': 0 }],
  ],
  filter_regex_operator_evaluation: [[0, getcwd]],
  filter_str_op_modifier_evaluation: [[0, getcwd]],
  contains_icontains: [
    [
      0,
      {
        'evt.type': 'open',
        'evt.dir': '<',
        'fd.num': 1,
        'fd.typechar': 'f',
        'fd.name': '/opt/dir/SUBDIR/file.txt',
        'evt.arg.flags': 'O_RDWR|O_CREAT',
      },
    ],
  ],
  signed_int_compare: [
    [
      0,
      {
        'evt.type': 'epoll_create',
        'evt.dir': '<',
        'evt.cpu': 1,
        'evt.rawarg.res': -22,
        'evt.res': 'EINVAL',
      },
    ],
    [60, { 'evt.type': 'open', 'evt.dir': '<', 'fd.num': -1, 'fd.name': '/tmp/the_file' }],
  ],
  pmatch: [
    [0, { 'evt.type': 'open', 'evt.dir': '<', 'fd.typechar': 'f', 'fd.name': '/opt/dir/subdir/file.txt' }],
  ],
  net_ipv4_compare: [[0, connect4]],
  net_modifier_ip_compare: [[0, connect4]],
  net_ipv6_compare: [[0, connect6]],
  bytebuf_bcontains_bstartswith: [[0, { 'evt.type': 'read', 'evt.dir': '<', 'evt.buffer': bytes('hello') }]],
  bytebuf_matches_nul: [[0, { 'evt.type': 'read', 'evt.dir': '<', 'evt.buffer': bytes('a\x00b') }]],
  basename_transformer: [[0, openFileToRun]],
  len_transformer: [
    [0, openFileToRun],
    [395, { 'evt.type': 'socket', 'evt.dir': '<', 'fd.types': ['ipv4', 'file'] }],
    [405, { 'evt.type': 'read', 'evt.dir': '<', 'evt.arg.data': 'abcdef' }],
  ],
  multivalue_transformer_join: [[0, openFileToRun]],
  multivalue_transformer_concat: [[0, openFileToRun]],
  multivalue_transformer_with_outer_transformer: [[0, openFileToRun]],
  multivalue_transformer_getopt: [[0, openFileToRun]],
  fd_fields_invalid_utf8_match: [[0, invalidUtf8]],
  proc_fields_invalid_utf8_match: [[0, invalidUtf8]],
  fspath_fields_invalid_utf8_match: [[0, invalidUtf8]],
  evt_abspath_invalid_utf8_match: [[0, invalidUtf8]],
  proc_cwd_invalid_utf8_match: [[0, invalidUtf8]],
};

const MODIFIER_TESTS = [
  'eq',
  'ne',
  'contains',
  'icontains',
  'startswith',
  'endswith',
  'glob',
  'iglob',
  'regex',
  'transformer_lhs',
  'compound',
  'empty_rhs',
];
for (const t of MODIFIER_TESTS) EVENTS[`FILTERCHECK_MOD_${t}`] = [[0, execveMyexe]];

function eventFor(c: Case): Event | undefined {
  const groups = EVENTS[c.test];
  if (groups === undefined) return undefined;
  let fields: Record<string, unknown> | undefined;
  for (const [from, record] of groups) if (c.line >= from) fields = record;
  return fields === undefined ? undefined : { fields };
}

/** libsinsp parameter types of the transformer cases, as our field types. */
const PARAM_TYPES: Record<string, FieldType> = {
  PT_CHARBUF: 'charbuf',
  PT_FSPATH: 'fspath',
  PT_UINT64: 'uint64',
  PT_BYTEBUF: 'bytebuf',
};

/** Compiles a condition: 'ok' and the filter, or the reason it was rejected. */
function compile(
  condition: string,
  registry: FieldRegistry,
): { ok: true; matches: (e: Event) => boolean } | { ok: false; why: string } {
  try {
    const filter = compileFilter(parseCondition(condition, { maxDepth: 1000 }), registry);
    return { ok: true, matches: (e) => filter.matches(e) };
  } catch (err) {
    return { ok: false, why: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

/** Runs one case; undefined when it passes, else the reason it failed. */
function run(c: Case, registry: FieldRegistry): string | undefined {
  if (c.kind === 'compile') {
    const r = compile(c.condition!, registry);
    if (r.ok === c.valid) return undefined;
    return r.ok ? 'compiled, but libsinsp rejects it' : `rejected (${r.why}), but libsinsp compiles it`;
  }
  if (c.kind === 'eval') {
    const r = compile(c.condition!, registry);
    if (!c.valid) return r.ok ? 'compiled, but libsinsp rejects it' : undefined;
    if (!r.ok) return `rejected: ${r.why}`;
    const evt = eventFor(c);
    if (evt === undefined) return `no synthetic event for test '${c.test}'`;
    const got = r.matches(evt);
    return got === c.expect ? undefined : `evaluated ${String(got)}, expected ${String(c.expect)}`;
  }
  // transformer
  const type = PARAM_TYPES[c.in_type!];
  if (type === undefined) return `unknown input type ${c.in_type}`;
  const isList = c.flags === 'EPF_IS_LIST';
  const name = c.transformer as UnaryTransformerName;
  const outputs: unknown[] = [];
  if (isList) {
    const v = applyUnaryTransformer(name, { type, isList }, c.input);
    if (Array.isArray(v)) outputs.push(...(v as unknown[]));
    else outputs.push(v);
  } else {
    for (const item of c.input!) outputs.push(applyUnaryTransformer(name, { type, isList }, item));
  }
  const ok = JSON.stringify(outputs) === JSON.stringify(c.expect_output);
  return ok ? undefined : `produced ${JSON.stringify(outputs)}, expected ${JSON.stringify(c.expect_output)}`;
}

describe('conformance: compile, eval and transformer cases of libsinsp', function () {
  it('passes at least 98% of the cases', function () {
    const path = requireShared(this, 'conformance/falco-filter-cases.jsonl');
    const cases = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim().length > 0)
      .map((l) => JSON.parse(l) as Case)
      .filter((c) => c.kind === 'compile' || c.kind === 'eval' || c.kind === 'transformer');
    const registry = createFieldRegistry(mockFields());
    const tally = new Map<string, { pass: number; total: number }>();
    const failures: string[] = [];
    for (const c of cases) {
      const why = run(c, registry);
      const t = tally.get(c.kind) ?? { pass: 0, total: 0 };
      t.total++;
      if (why === undefined) t.pass++;
      else failures.push(`  [${c.kind}] ${c.test}:${c.line} ${c.condition ?? c.transformer ?? ''} -> ${why}`);
      tally.set(c.kind, t);
    }
    let pass = 0;
    let total = 0;
    for (const [kind, t] of tally) {
      console.log(`      ${kind}: ${t.pass}/${t.total}`);
      pass += t.pass;
      total += t.total;
    }
    console.log(`      overall: ${pass}/${total} (${((100 * pass) / total).toFixed(1)}%)`);
    for (const f of failures) console.log(`    ${f}`);
    assert.ok(
      total >= 800,
      `expected the case file to hold the compile/eval/transformer cases, found ${total}`,
    );
    assert.ok(pass / total >= 0.98, `${total - pass} of ${total} cases fail`);
  });
});

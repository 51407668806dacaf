/**
 * Fuzzing the condition parser with a seeded, deterministic generator: grammar-built conditions
 * (which must parse, also with every space turned into another blank) and mutations of them (which
 * may fail, but only with ConditionSyntaxError, and quickly).
 */
import assert from 'node:assert/strict';
import { ConditionSyntaxError, parseCondition } from './parser.js';

/** mulberry32: a small 32-bit PRNG, enough to make fuzz runs reproducible from a seed. */
function createRandom(seed: number): {
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
} {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (n) => Math.floor(next() * n),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    chance: (p) => next() < p,
  };
}

type Random = ReturnType<typeof createRandom>;

const FIELDS = [
  'proc.name',
  'fd.name',
  'evt.type',
  'proc.aname[2]',
  'evt.arg["x y"]',
  'container.id',
  'k8s.ns.name',
];
const BARE = ['bash', '/etc/passwd', '*.log', '0a!@#:/\\.;', 'x.y', '10.0.0.0/8', 'not', 'oneof'];
const QUOTED = ['"a b"', "'c d'", '"\\x41\\t"', "'it\\'s'", '""'];
const NUMBERS = ['1', '-2', '+3.5', '0x1F', '1.5e+3'];
const STRING_OPS = [
  '=',
  '==',
  '!=',
  'contains',
  'icontains',
  'startswith',
  'endswith',
  'glob',
  'iglob',
  'regex',
  'bcontains',
];
const NUM_OPS = ['<', '<=', '>', '>='];
const LIST_OPS = ['in', 'intersects', 'pmatch'];

function genLeft(r: Random, depth: number): string {
  if (depth < 3 && r.chance(0.2)) {
    if (r.chance(0.7))
      return `${r.pick(['tolower', 'toupper', 'b64', 'basename', 'len'])}(${genLeft(r, depth + 1)})`;
    return `join(${r.pick(QUOTED)}, (${r.pick(FIELDS)}, ${r.pick(NUMBERS)}))`;
  }
  return r.pick(FIELDS);
}

function genList(r: Random): string {
  if (r.chance(0.2)) return r.pick(['shell_binaries', 'my_list']);
  const items: string[] = [];
  const n = r.int(4);
  for (let k = 0; k < n; k++) items.push(r.chance(0.5) ? r.pick(BARE) : r.pick(QUOTED));
  return `(${items.join(', ')})`;
}

function genCheck(r: Random): string {
  const left = genLeft(r, 0);
  switch (r.int(6)) {
    case 0:
      return `${left} exists`;
    case 1:
      return `${left} ${r.pick(NUM_OPS)} ${r.chance(0.8) ? r.pick(NUMBERS) : `val(${r.pick(FIELDS)})`}`;
    case 2:
      return `${left} ${r.pick(LIST_OPS)} ${genList(r)}`;
    case 3:
      return `${left} ${r.pick(['==', '!=', 'contains', 'startswith'])} ${r.pick(['oneof', 'anyof', 'allof'])} ${genList(r)}`;
    default:
      return `${left} ${r.pick(STRING_OPS)} ${r.chance(0.5) ? r.pick(BARE) : r.pick(QUOTED)}`;
  }
}

function genExpr(r: Random, depth: number): string {
  const roll = r.int(10);
  if (depth > 4 || roll < 4) return r.chance(0.8) ? genCheck(r) : r.pick(['macro_a', 'm2', 'notz', 'and_x']);
  if (roll < 6) return `not ${genExpr(r, depth + 1)}`;
  if (roll < 7) return `not(${genExpr(r, depth + 1)})`;
  if (roll < 8) return `(${genExpr(r, depth + 1)})`;
  const parts: string[] = [];
  const n = 2 + r.int(3);
  for (let k = 0; k < n; k++) parts.push(genExpr(r, depth + 1));
  return parts.join(r.chance(0.5) ? ' and ' : ' or ');
}

const NOISE = [
  '(',
  ')',
  '"',
  "'",
  '\\',
  ',',
  '=',
  '[',
  ']',
  ' ',
  '\n',
  '\t',
  '\b',
  '\0',
  'and',
  'or',
  'not',
  'x',
  '.',
  'é',
  'in',
  'oneof',
  '((',
];

function mutate(r: Random, text: string): string {
  let out = text;
  const edits = 1 + r.int(4);
  for (let k = 0; k < edits; k++) {
    const at = r.int(out.length + 1);
    switch (r.int(4)) {
      case 0:
        out = out.slice(0, at) + r.pick(NOISE) + out.slice(at);
        break;
      case 1:
        out = out.slice(0, at) + out.slice(at + 1 + r.int(4));
        break;
      case 2:
        out = out.slice(0, at) + r.pick(NOISE) + out.slice(at + 1);
        break;
      default: {
        // Splice a piece of the text somewhere else, which makes unbalanced nesting likely.
        const from = r.int(out.length + 1);
        out = out.slice(0, at) + out.slice(from, from + r.int(12)) + out.slice(at);
      }
    }
  }
  return out;
}

function randomBytes(r: Random): string {
  let out = '';
  const n = r.int(40);
  for (let k = 0; k < n; k++) out += r.chance(0.8) ? r.pick(NOISE) : String.fromCharCode(r.int(0x300));
  return out;
}

/** Parses and returns whether it succeeded; fails the test on anything but ConditionSyntaxError, or when slow. */
function parseQuietly(text: string, slowest: { ms: number; text: string }): boolean {
  const started = performance.now();
  let ok = true;
  try {
    parseCondition(text);
  } catch (err) {
    if (!(err instanceof ConditionSyntaxError)) {
      assert.fail(`${String(err)} escaped for ${JSON.stringify(text)}`);
    }
    assert.ok(
      err.pos.offset >= 0 && err.pos.offset <= text.length,
      `error offset out of range for ${JSON.stringify(text)}`,
    );
    ok = false;
  }
  const ms = performance.now() - started;
  if (ms > slowest.ms) {
    slowest.ms = ms;
    slowest.text = text;
  }
  return ok;
}

describe('parseCondition fuzzing', function () {
  it('parses 4,000 grammar-built conditions, also with other blanks', function () {
    const r = createRandom(0xc0ffee);
    const slowest = { ms: 0, text: '' };
    for (let n = 0; n < 4000; n++) {
      const text = genExpr(r, 0);
      assert.ok(parseQuietly(text, slowest), `rejected generated ${JSON.stringify(text)}`);
      const blank = r.pick(['\n', '\t', '\r']);
      // Spaces inside quoted strings change the value, not the validity.
      assert.ok(
        parseQuietly(text.replaceAll(' ', blank), slowest),
        `rejected with blanks: ${JSON.stringify(text)}`,
      );
    }
    assert.ok(slowest.ms < 100, `slowest parse took ${slowest.ms.toFixed(1)} ms: ${slowest.text}`);
  });

  it('only ever throws ConditionSyntaxError on 16,000 mutated and random inputs, each quickly', function () {
    const r = createRandom(20240601);
    const slowest = { ms: 0, text: '' };
    let accepted = 0;
    for (let n = 0; n < 16000; n++) {
      const text = n % 8 === 7 ? randomBytes(r) : mutate(r, genExpr(r, 0));
      if (parseQuietly(text, slowest)) accepted++;
    }
    // Both outcomes must be common, or the mutations are not exercising the parser.
    assert.ok(accepted > 1000 && accepted < 15000, `accepted ${accepted} of 16000`);
    assert.ok(
      slowest.ms < 100,
      `slowest parse took ${slowest.ms.toFixed(1)} ms: ${JSON.stringify(slowest.text)}`,
    );
  });
});

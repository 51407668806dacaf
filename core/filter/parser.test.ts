import assert from 'node:assert/strict';
import type { CheckLeft, CheckRight, Expr, TransformerArg } from './ast.js';
import {
  ConditionSyntaxError,
  DEFAULT_MAX_DEPTH,
  parseCondition,
  parseOutputField,
  positionIn,
} from './parser.js';

/** A compact, position-free rendering of a tree, to compare shapes in one line. */
function show(e: Expr): string {
  switch (e.kind) {
    case 'and':
    case 'or':
      return `${e.kind}(${e.children.map(show).join(', ')})`;
    case 'not':
      return `not(${show(e.child)})`;
    case 'macro':
      return `macro:${e.name}`;
    case 'unary':
      return `${showLeft(e.left)} ${e.op}`;
    case 'binary':
      return `${showLeft(e.left)} ${e.op}${e.modifier === undefined ? '' : ' ' + e.modifier} ${showRight(e.right)}`;
  }
}

function showLeft(l: CheckLeft | TransformerArg): string {
  switch (l.kind) {
    case 'field':
      return l.arg === undefined ? l.name : `${l.name}[${JSON.stringify(l.arg)}]`;
    case 'transformer':
      return `${l.name}(${l.args.map(showLeft).join(', ')})${l.index === undefined ? '' : `[${JSON.stringify(l.index)}]`}`;
    case 'value':
      return l.quoted ? JSON.stringify(l.value) : `<${l.value}>`;
    case 'arglist':
      return `(${l.items.map(showLeft).join(', ')})`;
  }
}

function showRight(r: CheckRight): string {
  switch (r.kind) {
    case 'value':
      return r.quoted ? JSON.stringify(r.value) : `<${r.value}>`;
    case 'list':
      return `(${r.items.map((item) => showRight(item)).join(', ')})`;
    case 'listref':
      return `list:${r.name}`;
    case 'val':
      return `val(${showLeft(r.field)})`;
    case 'transformer':
      return showLeft(r);
  }
}

function shape(text: string): string {
  return show(parseCondition(text));
}

function syntaxError(text: string, options?: { maxDepth?: number }): ConditionSyntaxError {
  try {
    parseCondition(text, options);
  } catch (err) {
    assert.ok(err instanceof ConditionSyntaxError, `not a ConditionSyntaxError: ${String(err)}`);
    return err;
  }
  assert.fail(`accepted ${JSON.stringify(text)}`);
}

function rejects(...texts: string[]): void {
  for (const text of texts) syntaxError(text);
}

/** libsinsp's pos_visitor rendering (filter_parser.ut.cpp): node kind, offset, line, column. */
function positions(e: Expr): string {
  const at = (p: { offset: number; line: number; column: number }): string =>
    `${p.offset} ${p.line} ${p.column}`;
  const left = (l: CheckLeft): string =>
    l.kind === 'field'
      ? `field${at(l.pos)}`
      : `transformer${at(l.pos)}` +
        l.args.map((a) => (a.kind === 'field' || a.kind === 'transformer' ? left(a) : '')).join('');
  const right = (r: CheckRight): string => {
    switch (r.kind) {
      case 'value':
      case 'listref':
        return `value${at(r.pos)}`;
      case 'list':
        return `list${at(r.pos)}`;
      case 'val':
        return `transformer${at(r.pos)}field${at(r.field.pos)}`;
      case 'transformer':
        return left(r);
    }
  };
  switch (e.kind) {
    case 'and':
    case 'or':
      return `${e.kind}${at(e.pos)}` + e.children.map(positions).join('');
    case 'not':
      return `not${at(e.pos)}` + positions(e.child);
    case 'macro':
      return `identifier${at(e.pos)}`;
    case 'unary':
      return `unary${at(e.pos)}` + left(e.left);
    case 'binary':
      return `binary${at(e.pos)}` + left(e.left) + right(e.right);
  }
}

describe('parseCondition', function () {
  describe('logical structure', function () {
    it('binds not tighter than and, and tighter than or', function () {
      assert.equal(shape('a or b and not c'), 'or(macro:a, and(macro:b, not(macro:c)))');
      assert.equal(shape('a.a=1 or b.b=2 and c'), 'or(a.a = <1>, and(b.b = <2>, macro:c))');
      assert.equal(shape('not a and b'), 'and(not(macro:a), macro:b)');
    });

    it('keeps and/or chains flat', function () {
      assert.equal(shape('a and b and c'), 'and(macro:a, macro:b, macro:c)');
      assert.equal(shape('a or b or(c)'), 'or(macro:a, macro:b, macro:c)');
      assert.equal(shape('(a)and(b)and(c)'), 'and(macro:a, macro:b, macro:c)');
    });

    it('drops parentheses and cancels double negations as libsinsp does', function () {
      assert.equal(shape('((((a))))'), 'macro:a');
      assert.equal(shape('not not a'), 'macro:a');
      assert.equal(shape('not not not not not(not not(not not_macro))'), 'not(not(macro:not_macro))');
      assert.equal(shape('not(a)and(not(b))'), 'and(not(macro:a), not(macro:b))');
    });

    it('needs a blank or ( after and/or, and a blank or ( after not', function () {
      assert.equal(shape('a and notb'), 'and(macro:a, macro:notb)');
      assert.equal(shape('macro and and_macro'), 'and(macro:macro, macro:and_macro)');
      rejects(
        'a andb',
        'a orb',
        'aand b',
        'a andnot b',
        '(a)ornot(b)',
        'a not b',
        'a and',
        'and a',
        'a and or b',
      );
    });

    it('reads a lone not as an identifier, as libsinsp does', function () {
      assert.equal(shape('not'), 'macro:not');
      rejects('not ');
    });

    it('accepts every blank libsinsp accepts between tokens', function () {
      assert.equal(shape('\t\r\n\ba\band\nb\t'), 'and(macro:a, macro:b)');
      // `not` is followed by POSIX spaces, which include \v and \f but not \b.
      assert.equal(shape('not\va'), 'not(macro:a)');
      rejects('not\ba');
    });

    it('must consume the whole input', function () {
      rejects('', 'a b', 'a)', '(a', '#a and b; a and b', 'a\0');
    });
  });

  describe('fields and identifiers', function () {
    it('tells fields (with a dot) from identifiers', function () {
      assert.equal(shape('proc.name exists'), 'proc.name exists');
      assert.equal(shape('k8s.ns.name exists'), 'k8s.ns.name exists');
      assert.equal(shape('my_macro2'), 'macro:my_macro2');
      rejects('a.1b exists', '_a', '1a', 'a..b exists', 'macro > 12');
    });

    it('reads bare and quoted field arguments', function () {
      assert.equal(shape('proc.aname[2] = x'), 'proc.aname["2"] = <x>');
      assert.equal(shape('evt.arg[fd] = x'), 'evt.arg["fd"] = <x>');
      assert.equal(shape('c.mount[/var/run/docker.sock] exists'), 'c.mount["/var/run/docker.sock"] exists');
      assert.equal(shape("test.str['a aa'] = a"), 'test.str["a aa"] = <a>');
      assert.equal(
        shape('test.str["test \\"with\\"escaping"] = a'),
        'test.str["test \\"with\\"escaping"] = <a>',
      );
    });

    it('accepts [""] as an argument distinct from none, and rejects []', function () {
      const withEmpty = parseCondition('test.str[""] = v');
      const without = parseCondition('test.str = v');
      assert.ok(withEmpty.kind === 'binary' && withEmpty.left.kind === 'field');
      assert.ok(without.kind === 'binary' && without.left.kind === 'field');
      assert.equal(withEmpty.left.arg, '');
      assert.equal(without.left.arg, undefined);
      const err = syntaxError('evt.arg[] = value');
      assert.equal(err.expected, 'a valid field argument: a quoted string or a bare string');
    });

    it('allows no blank before or inside the brackets', function () {
      rejects(
        'test.str[   test   ] = x',
        'test.str [1] = x',
        'test.str[[] = x',
        'test.str[]] = x',
        "test.str['''] = a",
      );
    });
  });

  describe('operators', function () {
    it('parses every operator', function () {
      for (const op of ['=', '==', '!=', '<', '<=', '>', '>=']) {
        assert.equal(shape(`a.b ${op} 1`), `a.b ${op} <1>`);
      }
      for (const op of [
        'contains',
        'icontains',
        'bcontains',
        'startswith',
        'bstartswith',
        'endswith',
        'glob',
        'iglob',
        'regex',
      ]) {
        assert.equal(shape(`a.b ${op} x`), `a.b ${op} <x>`);
      }
      for (const op of ['in', 'intersects', 'pmatch'])
        assert.equal(shape(`a.b ${op} (x)`), `a.b ${op} (<x>)`);
      assert.equal(shape('a.b exists'), 'a.b exists');
    });

    it('needs a blank after word operators but not after symbols', function () {
      assert.equal(shape('a.b =x'), 'a.b = <x>');
      assert.equal(shape('a.b<=1'), 'a.b <= <1>');
      assert.equal(shape('a.b in()'), 'a.b in ()');
      assert.equal(shape('a.b contains\tx'), 'a.b contains <x>');
      assert.equal(shape('test.op existsand macro'), 'and(test.op exists, macro:macro)');
      rejects(
        'a.b containsx',
        'a.b globx',
        'a.b regexx',
        'a.b ExIsTs',
        'a.b === x',
        'a.b !== x',
        'a.b invalidop x',
      );
    });

    it('takes numbers after numeric operators', function () {
      for (const n of ['1000', '+1', '-1', '0x12345', '0XaB00AB', '1.2', '-0.1222e+10', '1.']) {
        assert.equal(shape(`a.b > ${n}`), `a.b > <${n}>`);
      }
      rejects('a.b > !1', 'a.b < 0xAAA.1', 'a.b >= 0aaaaa', 'a.b <= a', 'a.b > 1e5', 'a.b >');
    });
  });

  describe('values', function () {
    it('reads bare strings up to a blank, parenthesis, quote, = or comma', function () {
      assert.equal(shape('a.b = 0a!@#456:/\\.;!$%^&*[]{}|'), 'a.b = <0a!@#456:/\\.;!$%^&*[]{}|>');
      assert.equal(shape('fd.name=*.log'), 'fd.name = <*.log>');
      assert.equal(shape('a.b = not'), 'a.b = <not>');
      assert.equal(shape('a.b = c.d'), 'a.b = <c.d>');
      assert.equal(shape('a.b = héllo'), 'a.b = <héllo>');
      rejects('a.b = a,', 'a.b = a=', 'a.b = a(\'")', 'fd.name=/var/lo);g/httpd.log', 'a.b = b = 1');
    });

    it('decodes quoted strings with libsinsp escapes', function () {
      assert.equal(shape('a.b = "x \\" y"'), 'a.b = "x \\" y"');
      assert.equal(shape("a.b = 'it\\'s'"), 'a.b = "it\'s"');
      assert.equal(shape('a.b = "\\x41\\t\\/"'), 'a.b = "A\\t/"');
      assert.equal(shape('a.b = "mixed \'"'), 'a.b = "mixed \'"');
      // backslash-blank is a backslash (libsinsp's fall-through quirk)
      assert.equal(shape('a.b = "bad escape \\ " '), 'a.b = "bad escape \\\\"');
      rejects(
        'a.b = "mixed \\\'"',
        "a.b = 'mixed \\\"'",
        'a.b = "\\q"',
        'a.b = "\\x4"',
        "a.b = 'x",
        'a.b = "x""',
      );
    });

    it('never closes a quote right after a backslash, as libsinsp', function () {
      // The quote after `\\` counts as escaped, so the string runs on to the next quote.
      const e = parseCondition('a.b = "x\\\\"y"');
      assert.ok(e.kind === 'binary' && e.right.kind === 'value');
      assert.equal(e.right.value, 'x\\"y');
      rejects('a.b = "x\\\\" and c.d = "y"');
    });
  });

  describe('lists', function () {
    it('reads empty and non-empty lists of bare and quoted items', function () {
      assert.equal(shape('a.b in ()'), 'a.b in ()');
      assert.equal(shape("a.g in (1, 'a', b.c)"), 'a.g in (<1>, "a", <b.c>)');
      assert.equal(shape('a.b in ( x ,y )'), 'a.b in (<x>, <y>)');
    });

    it('rejects trailing, leading and double commas and unclosed lists', function () {
      rejects(
        'a.b in (x,)',
        'a.b in (,)',
        'a.b in (,x)',
        'a.b in ( 1 ,, , b)',
        'a.b in (',
        'a.b in )',
        'a.b in (x y)',
      );
    });

    it('takes only strings as list items', function () {
      rejects('a.b in (b64(c.d))', 'a.b in (a, (b))');
    });

    it('reads a list name on the right of list operators', function () {
      const e = parseCondition('proc.name in shell_binaries');
      assert.ok(e.kind === 'binary');
      assert.equal(e.right.kind, 'listref');
      assert.equal(shape('a.b intersects l1'), 'a.b intersects list:l1');
      rejects('a.b = (x)', 'a.b > (x)', 'a.b contains (x)');
    });
  });

  describe('modifiers', function () {
    it('reads oneof/anyof/allof between a string operator and a list', function () {
      assert.equal(shape('proc.name == oneof (cat, nginx)'), 'proc.name == oneof (<cat>, <nginx>)');
      assert.equal(
        shape('fd.name startswith anyof (/etc, /root)'),
        'fd.name startswith anyof (</etc>, </root>)',
      );
      assert.equal(shape('proc.name != allof my_list'), 'proc.name != allof list:my_list');
      assert.equal(shape('proc.name == oneof oneof'), 'proc.name == oneof list:oneof');
      assert.equal(shape('tolower(proc.name) == oneof ()'), 'tolower(proc.name) == oneof ()');
    });

    it('treats the word as a value where no list follows', function () {
      assert.equal(shape('proc.name == oneof'), 'proc.name == <oneof>');
      assert.equal(shape('proc.name == oneof_x'), 'proc.name == <oneof_x>');
      assert.equal(
        shape('proc.name == anyof and fd.name exists'),
        'and(proc.name == <anyof>, fd.name exists)',
      );
      assert.equal(shape('proc.name == allof or(x)'), 'or(proc.name == <allof>, macro:x)');
    });

    it('needs lower case, blanks on both sides, and a string operator', function () {
      rejects(
        'proc.name ==oneof (a)',
        'proc.name == oneof(a)',
        'proc.name == ONEOF (a)',
        'proc.name == oneof (a,)',
      );
      rejects('proc.num > oneof (1)', 'proc.name in oneof (a)', 'proc.name pmatch allof (a)');
    });
  });

  describe('transformers', function () {
    it('reads single-argument transformers on the left, nested and with blanks inside', function () {
      assert.equal(shape('tolower(a.b) exists'), 'tolower(a.b) exists');
      assert.equal(shape('b64( toupper(a.b ) ) = x'), 'b64(toupper(a.b)) = <x>');
      assert.equal(shape('basename(fd.name) = x'), 'basename(fd.name) = <x>');
      assert.equal(shape('len(fd.types) > 0'), 'len(fd.types) > <0>');
    });

    it('reads transformers and val() on the right', function () {
      assert.equal(shape('a.b = val(c.d)'), 'a.b = val(c.d)');
      assert.equal(shape('a.b > val(c.d[1])'), 'a.b > val(c.d["1"])');
      assert.equal(shape('a.b in b64(c.d)'), 'a.b in b64(c.d)');
      assert.equal(shape('a.b = b64 and(m)'), 'and(a.b = <b64>, macro:m)');
    });

    it('reads join, concat and getopt with argument lists and an index', function () {
      assert.equal(shape('join("-", (fd.name, 123, \'x\')) = v'), 'join("-", (fd.name, <123>, "x")) = <v>');
      assert.equal(shape('join("-", ()) = v'), 'join("-", ()) = <v>');
      assert.equal(
        shape('concat(fd.name, toupper(fd.directory)) = v'),
        'concat(fd.name, toupper(fd.directory)) = <v>',
      );
      assert.equal(shape('getopt(proc.args, "nt:")[t] = v'), 'getopt(proc.args, "nt:")["t"] = <v>');
      assert.equal(shape('getopt(proc.args, "nt:")[""] = v'), 'getopt(proc.args, "nt:")[""] = <v>');
      const e = parseCondition('join("-", (fd.name)) = v');
      assert.ok(e.kind === 'binary' && e.left.kind === 'transformer');
      assert.equal(e.left.args[1]?.kind, 'arglist');
    });

    it('rejects unknown transformers, a blank before (, misplaced val() and malformed lists', function () {
      rejects(
        'b64 (a.b) exists',
        'b64\n(a.b) exists',
        'fake(a.b) exists',
        'a.b.c(d.e) exists',
        'b64(a.b [1]) exists',
      );
      rejects(
        'val(a.b) exists',
        'b64(val(a.b)) exists',
        'a.b = val(val(c.d))',
        'a.b = val(b64(c.d))',
        'a.b = val(c.d)[x]',
      );
      rejects('b64(ab) exists', 'b64(a.b)) exists', 'b64(a.b exists', 'b64("x") exists', 'a.b = (b64(c.d))');
      rejects(
        'join("-", (,)) = x',
        'join("-", (a.b,)) = x',
        'join("-", ((a.b))) = x',
        'join("-", (macro)) = x',
      );
      rejects('join("-", (bare)) = x', 'getopt(proc.args, "nt:")[] = v', 'getopt(proc.args, "nt:")["t" = v');
    });
  });

  describe('positions', function () {
    it('matches libsinsp position tests', function () {
      const cases: [string, string][] = [
        ['proc.name exists', 'unary0 1 1field0 1 1'],
        ['proc.aname[3]=nginx', 'binary0 1 1field0 1 1value14 1 15'],
        ['proc.name in ( nginx, apache)', 'binary0 1 1field0 1 1list13 1 14'],
        ['not proc.name=nginx', 'not0 1 1binary4 1 5field4 1 5value14 1 15'],
        [
          '(proc.name=nginx and proc.name=apache)',
          'and1 1 2binary1 1 2field1 1 2value11 1 12binary21 1 22field21 1 22value31 1 32',
        ],
        [
          '(proc.aname[2]=nginx and evt.type in (connect,accept)) or (not fd.name exists) or (proc.name=apache and evt.type=switch)',
          'or0 1 1and1 1 2binary1 1 2field1 1 2value15 1 16binary25 1 26field25 1 26list37 1 38not59 1 60unary63 1 64field63 1 64and83 1 84binary83 1 84field83 1 84value93 1 94binary104 1 105field104 1 105value113 1 114',
        ],
        [
          '\n(proc.aname[2]=nginx\n     and evt.type in (connect,accept))\n   or (not fd.name exists)\n   or (proc.name=apache\n       and evt.type=switch)',
          'or0 1 1and2 2 2binary2 2 2field2 2 2value16 2 16binary31 3 10field31 3 10list43 3 22not68 4 8unary72 4 12field72 4 12and95 5 8binary95 5 8field95 5 8value105 5 18binary123 6 12field123 6 12value132 6 21',
        ],
        [
          'b64(evt.name) exists and tolower(toupper(evt.type)) in val(some.field) and not evt.dir=b64(some.field) or proc.name=b64(tolower(some.field))',
          'or0 1 1and0 1 1unary0 1 1transformer0 1 1field4 1 5binary25 1 26transformer25 1 26transformer33 1 34field41 1 42transformer55 1 56field59 1 60not75 1 76binary79 1 80field79 1 80transformer87 1 88field91 1 92binary106 1 107field106 1 107transformer116 1 117transformer120 1 121field128 1 129',
        ],
      ];
      for (const [text, want] of cases) assert.equal(positions(parseCondition(text)), want, text);
    });

    it('counts both \\r and \\n as line ends', function () {
      assert.deepEqual(positionIn('a\r\nb', 3), { offset: 3, line: 3, column: 1 });
      const e = parseCondition('a and\r\n b');
      assert.ok(e.kind === 'and');
      assert.deepEqual(e.children[1]?.pos, { offset: 8, line: 3, column: 2 });
    });
  });

  describe('errors', function () {
    it('say what was expected, where, and what was found', function () {
      const err = syntaxError('evt.arg["x" = value');
      assert.equal(err.message, 'expected a \']\' token at 1:13, found "="');
      assert.equal(err.expected, "a ']' token");
      assert.deepEqual(err.pos, { offset: 12, line: 1, column: 13 });
      assert.equal(err.found, '"="');
      assert.equal(err.name, 'ConditionSyntaxError');
      assert.ok(err instanceof Error);
    });

    it('point at the end of the input when it ends too soon', function () {
      const err = syntaxError('a.b in (x,\n');
      assert.equal(err.found, 'the end of the condition');
      assert.deepEqual(err.pos, { offset: 11, line: 2, column: 1 });
      assert.match(
        syntaxError('a and b x').message,
        /^expected 'and', 'or' or the end of the condition at 1:9, found "x"$/,
      );
      assert.match(
        syntaxError('a.b ~ 1').message,
        /^expected a valid check operator: one of 'exists', '<=',.* at 1:5, found "~"$/,
      );
    });

    it('point inside a quoted string at a bad escape', function () {
      const err = syntaxError('a.b = "ok\\q"');
      assert.deepEqual(err.pos, { offset: 9, line: 1, column: 10 });
      assert.equal(err.found, '"\\\\q"');
    });
  });

  describe('depth limit', function () {
    const nested = (n: number): string => '('.repeat(n) + 'a' + ')'.repeat(n);

    it('accepts nesting up to libsinsp limit and rejects one level more', function () {
      // libsinsp counts or, and, not, check and the parenthesis itself: five per level, four at the
      // top, and fails when the count reaches the limit: 4 + 5 * 19 = 99 < 100 <= 104.
      assert.equal(shape(nested(19)), 'macro:a');
      const err = syntaxError(nested(20));
      assert.equal(err.expected, `nesting within the depth limit of ${DEFAULT_MAX_DEPTH}`);
      assert.equal(shape('((((((((((a))))))))))'), 'macro:a');
    });

    it('honours a larger limit, as the rule loader sets', function () {
      assert.equal(show(parseCondition(nested(199), { maxDepth: 1000 })), 'macro:a');
      syntaxError(nested(200), { maxDepth: 1000 });
      syntaxError(nested(199));
      const deepTransformer = 'b64('.repeat(900) + 'a.b' + ')'.repeat(900) + ' exists';
      assert.ok(parseCondition(deepTransformer, { maxDepth: 1000 }).kind === 'unary');
      syntaxError(deepTransformer);
    });

    it('stops a million open parentheses with a syntax error, not a stack overflow', function () {
      syntaxError('('.repeat(1_000_000), { maxDepth: 1000 });
    });

    it('rejects a limit that is not a positive integer', function () {
      assert.throws(() => parseCondition('a', { maxDepth: 0 }), RangeError);
    });
  });

  describe('large input', function () {
    it('parses a 1 MB condition in well under a second', function () {
      const parts: string[] = [];
      let size = 0;
      for (let n = 0; size < 1_000_000; n++) {
        const part =
          n % 3 === 0
            ? `proc.name in (bash, "sh", zsh${n})`
            : n % 3 === 1
              ? `not fd.name startswith /tmp/${n}`
              : `m${n}`;
        parts.push(part);
        size += part.length + 5;
      }
      const text = parts.join(n2(parts.length));
      const started = performance.now();
      const e = parseCondition(text);
      const elapsed = performance.now() - started;
      assert.ok(e.kind === 'or');
      assert.ok(elapsed < 600, `took ${elapsed.toFixed(0)} ms`);
    });

    it('fails fast on a 1 MB unterminated string and on a million nots', function () {
      let started = performance.now();
      syntaxError('a.b = "' + 'x'.repeat(1_000_000));
      assert.ok(performance.now() - started < 500);
      started = performance.now();
      assert.equal(show(parseCondition('not '.repeat(250_000) + 'a')), 'macro:a');
      assert.ok(performance.now() - started < 500);
    });
  });
});

/** Alternating joiners so the 1 MB condition mixes and/or and newlines. */
function n2(count: number): string {
  return count % 2 === 0 ? ' or\n' : ' or ';
}

describe('parseOutputField', function () {
  it('reads a field with its argument and returns where it ends', function () {
    const text = 'user=%user.name parent=%proc.aname[2] x';
    const a = parseOutputField(text, 6);
    assert.ok(a !== undefined && a.node.kind === 'field');
    assert.equal(a.node.name, 'user.name');
    assert.equal(a.end, 15);
    const b = parseOutputField(text, 24);
    assert.ok(b !== undefined && b.node.kind === 'field');
    assert.equal(b.node.arg, '2');
    assert.equal(text.slice(b.end), ' x');
  });

  it('reads a transformer expression', function () {
    const r = parseOutputField('%tolower(fd.name), done', 1);
    assert.ok(r !== undefined && r.node.kind === 'transformer');
    assert.equal(r.node.name, 'tolower');
    assert.equal(r.end, 17);
  });

  it('stops a field at text that is not part of it', function () {
    const r = parseOutputField('%evt.arg.flags.', 1);
    assert.equal(r?.end, 14);
    const s = parseOutputField('%fd.name[ is open', 1);
    assert.ok(s !== undefined && s.node.kind === 'field');
    assert.equal(s.node.arg, undefined);
    assert.equal(s.end, 8);
  });

  it('returns undefined where nothing parses', function () {
    assert.equal(parseOutputField('100%', 4), undefined);
    assert.equal(parseOutputField('% x', 1), undefined);
    assert.equal(parseOutputField('%name', 1), undefined);
    assert.equal(parseOutputField('%tolower(fd.name', 1), undefined);
    assert.equal(parseOutputField('%b64(x)', 1), undefined);
  });
});

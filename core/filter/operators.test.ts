import assert from 'node:assert/strict';
import {
  boolSetTest,
  boolTest,
  ipSetTest,
  ipTest,
  netSetTest,
  netTest,
  numberSetTest,
  numberTest,
  operatorAllowed,
  pmatchTest,
  textSetTest,
  textTest,
} from './operators.js';
import { parseIpInto, parseIpOperand, parseNetOperand } from './values.js';

describe('operators: table of operators per kind', () => {
  it('follows libsinsp: numbers, bools, addresses, strings, buffers, lists', () => {
    assert.equal(operatorAllowed('number', '<'), true);
    assert.equal(operatorAllowed('number', 'contains'), false);
    assert.equal(operatorAllowed('bool', '<'), false);
    assert.equal(operatorAllowed('bool', 'in'), true);
    assert.equal(operatorAllowed('ip', '=='), true);
    assert.equal(operatorAllowed('net', 'startswith'), false);
    assert.equal(operatorAllowed('string', '<'), true);
    assert.equal(operatorAllowed('string', 'bcontains'), false);
    assert.equal(operatorAllowed('bytes', 'bstartswith'), true);
    assert.equal(operatorAllowed('bytes', 'icontains'), false);
    assert.equal(operatorAllowed('bytes', 'glob'), false);
    assert.equal(operatorAllowed('list', 'intersects'), true);
    assert.equal(operatorAllowed('list', '='), false);
  });
});

describe('operators: strings', () => {
  it('compares, searches and orders', () => {
    assert.equal(textTest('=', 'bash')('bash'), true);
    assert.equal(textTest('!=', 'bash')('sh'), true);
    assert.equal(textTest('contains', '/dir')('/opt/dir/x'), true);
    assert.equal(textTest('startswith', '/opt')('/opt/dir'), true);
    assert.equal(textTest('endswith', '.txt')('/a.txt'), true);
    assert.equal(textTest('endswith', '.txt')('/a.txt2'), false);
    assert.equal(textTest('<', 'b')('a'), true);
    assert.equal(textTest('>=', 'b')('a'), false);
  });

  it('icontains folds ASCII case only', () => {
    assert.equal(textTest('icontains', '/subdir')('/opt/dir/SUBDIR/file.txt'), true);
    assert.equal(textTest('icontains', 'notthis')('/opt/dir/SUBDIR/file.txt'), false);
    assert.equal(textTest('icontains', 'É')('é'), false, 'non-ASCII is not folded');
    assert.equal(textTest('icontains', '')('x'), true);
  });

  it('regex is fully anchored; glob and iglob are fnmatch-style', () => {
    assert.equal(textTest('regex', 'syscal.*')('syscall'), true);
    assert.equal(textTest('regex', 'yscal.*')('syscall'), false);
    assert.equal(textTest('glob', 'my*')('myexe'), true);
    assert.equal(textTest('iglob', 'MY*')('myexe'), true);
  });

  it('in uses a set, whatever its size', () => {
    const small = textSetTest(['a', 'b']);
    assert.equal(small('b'), true);
    assert.equal(small('c'), false);
    const big = textSetTest(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    assert.equal(big('g'), true);
    assert.equal(big('h'), false);
    assert.equal(textSetTest([])('a'), false);
  });

  it('pmatch matches whole path components, with wildcards per component', () => {
    const path = '/opt/dir/subdir/file.txt';
    assert.equal(pmatchTest(['/opt/dir'])(path), true);
    assert.equal(pmatchTest(['/opt/dir/'])(path), true);
    assert.equal(pmatchTest(['/opt/dir2'])(path), false);
    assert.equal(pmatchTest(['/opt/di'])(path), false);
    assert.equal(pmatchTest(['/opt/*/subdir'])(path), true);
    assert.equal(pmatchTest(['/opt/di?/subdir'])(path), true);
    assert.equal(pmatchTest(['/opt/*/*/subsubdir'])(path), false);
    assert.equal(pmatchTest(['/opt/dir3', '/opt/dir'])(path), true);
    assert.equal(pmatchTest(['/'])(path), true);
    assert.equal(pmatchTest(['/opt/dir'])('/opt/dir'), true);
    assert.equal(pmatchTest(['/opt/dir'])('opt/dir'), false);
  });
});

describe('operators: numbers, booleans, addresses', () => {
  it('compares numbers', () => {
    assert.equal(numberTest('<', 0)(-22), true);
    assert.equal(numberTest('>', 4294967295)(-22), false);
    assert.equal(numberTest('=', 5)(5), true);
    assert.equal(numberTest('!=', 5)(5), false);
    assert.equal(numberSetTest([53, 80])(80), true);
    assert.equal(numberSetTest([53, 80])(81), false);
  });

  it('compares booleans', () => {
    assert.equal(boolTest('=', true)(true), true);
    assert.equal(boolTest('!=', true)(true), false);
    assert.equal(boolSetTest([false])(false), true);
    assert.equal(boolSetTest([false])(true), false);
  });

  it('compares addresses and networks; a family mismatch is not-equal', () => {
    const w = new Uint32Array(4);
    const f = parseIpInto('142.251.111.147', w);
    assert.equal(ipTest('=', parseIpOperand('142.251.111.147'))(f, w), true);
    assert.equal(ipTest('!=', parseIpOperand('0:0:0:0:0:0:0:1'))(f, w), true);
    assert.equal(ipTest('=', parseIpOperand('::1'))(f, w), false);
    assert.equal(ipSetTest([parseIpOperand('10.0.0.1'), parseIpOperand('142.251.111.147')])(f, w), true);
    assert.equal(netTest('=', parseNetOperand('142.251.0.0/16'))(f, w), true);
    assert.equal(netTest('!=', parseNetOperand('10.0.0.0/8'))(f, w), true);
    assert.equal(netSetTest([parseNetOperand('10.0.0.0/8')])(f, w), false);
  });
});

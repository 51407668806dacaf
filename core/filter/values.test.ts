import assert from 'node:assert/strict';
import {
  decodeBytes,
  ipInNet,
  operandText,
  parseBoolOperand,
  parseHexOperand,
  parseIpInto,
  parseIpOperand,
  parseNetOperand,
  parseNumberOperand,
  toByteString,
  toBytes,
  toNumber,
  toText,
  ValueConversionError,
  valueKindOf,
} from './values.js';

describe('values: number operands', () => {
  it('reads decimal integers with sign and leading blanks, as sscanf does', () => {
    assert.equal(parseNumberOperand('42', 'int64'), 42);
    assert.equal(parseNumberOperand('-22', 'errno'), -22);
    assert.equal(parseNumberOperand('+7', 'uint32'), 7);
    assert.equal(parseNumberOperand(' 10', 'uint64'), 10);
  });

  it('rejects hex, fractions, exponents and trailing text like libsinsp', () => {
    for (const bad of ['0x10', '1.0', '1e3', '10 ', 'abc', '', '--1']) {
      assert.throws(() => parseNumberOperand(bad, 'int64'), ValueConversionError, bad);
    }
    assert.throws(() => parseNumberOperand('1.0', 'double'), ValueConversionError);
  });

  it('wraps to the field width like the C cast: -1 as uint32 is 4294967295', () => {
    assert.equal(parseNumberOperand('-1', 'uint32'), 4294967295);
    assert.equal(parseNumberOperand('70000', 'int16'), 4464);
    assert.equal(parseNumberOperand('65536', 'port'), 0);
    assert.equal(parseNumberOperand('4294967295', 'int32'), -1);
  });

  it('saturates 64-bit overflow as strtol does', () => {
    assert.equal(parseNumberOperand('99999999999999999999', 'int64'), Number((1n << 63n) - 1n));
    assert.equal(parseNumberOperand('-99999999999999999999', 'int64'), Number(-(1n << 63n)));
  });

  it('converts raw event values, reading the other signedness of the width as its own', () => {
    assert.equal(toNumber(-1, 'uint32'), 4294967295);
    assert.equal(toNumber(4294967295, 'int32'), -1);
    assert.equal(toNumber(8589934591, 'uint32'), 8589934591, 'out of both ranges: kept');
    assert.equal(toNumber('12', 'int64'), 12);
    assert.equal(toNumber('', 'int64'), undefined);
    assert.equal(toNumber('x', 'int64'), undefined);
    assert.equal(toNumber(5n, 'uint64'), 5);
    assert.equal(toNumber(null, 'int64'), undefined);
  });
});

describe('values: booleans, text and bytes', () => {
  it('accepts exactly true and false as boolean operands', () => {
    assert.equal(parseBoolOperand('true'), true);
    assert.equal(parseBoolOperand('false'), false);
    for (const bad of ['TRUE', '1', 'yes', ''])
      assert.throws(() => parseBoolOperand(bad), ValueConversionError);
  });

  it('decodes UTF-8 and carries invalid bytes as same-valued code units', () => {
    assert.equal(decodeBytes(Uint8Array.of(0x63, 0x61, 0x66, 0xc3, 0xa9)), 'café');
    assert.equal(decodeBytes(Uint8Array.of(0x2f, 0x70, 0xff)), '/p\u00ff');
    assert.equal(decodeBytes(Uint8Array.of(0xc3)), '\u00c3', 'truncated sequence');
    assert.equal(
      decodeBytes(Uint8Array.of(0xed, 0xa0, 0x80)),
      '\u00ed\u00a0\u0080',
      'surrogates are invalid',
    );
  });

  it('reads \\xHH operand bytes as UTF-8 when they form it, else keeps them', () => {
    assert.equal(operandText('caf\u00c3\u00a9'), 'café');
    assert.equal(operandText('\u00ff'), '\u00ff');
    assert.equal(operandText('plain'), 'plain');
    assert.equal(operandText('a\u00e2\u0082\u00acb'), 'a€b');
  });

  it('renders raw values as text', () => {
    assert.equal(toText(3), '3');
    assert.equal(toText(true), 'true');
    assert.equal(toText(Uint8Array.of(0x61)), 'a');
    assert.equal(toText(undefined), undefined);
  });

  it('encodes text as byte strings', () => {
    assert.equal(toByteString('abc'), 'abc');
    assert.equal(toByteString('€'), '\u00e2\u0082\u00ac');
    assert.equal(toBytes(Uint8Array.of(0, 255)), '\u0000\u00ff');
  });

  it('reads hex operands into bytes and rejects odd or non-hex text', () => {
    assert.equal(parseHexOperand('68656c6C6f'), 'hello');
    assert.equal(parseHexOperand('610062'), 'a\u0000b');
    for (const bad of ['2', 'g', '2g', '123Z', 'abc_1', ''])
      assert.throws(() => parseHexOperand(bad), ValueConversionError);
  });

  it('maps field types to value kinds', () => {
    assert.equal(valueKindOf('fspath'), 'string');
    assert.equal(valueKindOf('bytebuf'), 'bytes');
    assert.equal(valueKindOf('port'), 'number');
    assert.equal(valueKindOf('ipnet'), 'net');
    assert.equal(valueKindOf('bool'), 'bool');
  });
});

describe('values: addresses and networks', () => {
  it('parses IPv4 strictly (inet_pton)', () => {
    const w = new Uint32Array(4);
    assert.equal(parseIpInto('142.251.111.147', w), 4);
    assert.equal(w[3], ((142 << 24) >>> 0) + (251 << 16) + (111 << 8) + 147);
    for (const bad of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4 ', 'a.b.c.d', '']) {
      assert.equal(parseIpInto(bad, w), 0, bad);
    }
  });

  it('parses IPv6 with compression and embedded IPv4', () => {
    const w = new Uint32Array(4);
    assert.equal(parseIpInto('::1', w), 6);
    assert.deepEqual([...w], [0, 0, 0, 1]);
    assert.equal(parseIpInto('2001:4860:4860::8888', w), 6);
    assert.deepEqual([...w], [0x20014860, 0x48600000, 0, 0x8888]);
    assert.equal(parseIpInto('0:0:0:0:0:0:0:1', w), 6);
    assert.deepEqual([...w], [0, 0, 0, 1]);
    assert.equal(parseIpInto('::ffff:1.2.3.4', w), 6);
    assert.deepEqual([...w], [0, 0, 0xffff, 0x01020304]);
    assert.equal(parseIpInto('::', w), 6);
    for (const bad of ['1::2::3', ':1', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '1:2:3:4:5:6:7:']) {
      assert.equal(parseIpInto(bad, w), 0, bad);
    }
  });

  it('checks network membership for both families', () => {
    const net4 = parseNetOperand('142.0.0.0/4');
    const ip = parseIpOperand('142.251.111.147');
    assert.equal(ipInNet(ip.family, ip.words, net4), true);
    assert.equal(ipInNet(ip.family, ip.words, parseNetOperand('10.0.0.0/8')), false);
    const ip6 = parseIpOperand('2001:4860:4860::8888');
    assert.equal(ipInNet(ip6.family, ip6.words, parseNetOperand('2001:4860::0/32')), true);
    assert.equal(ipInNet(ip6.family, ip6.words, parseNetOperand('2001:db8:abcd:0012::0/64')), false);
    assert.equal(ipInNet(ip.family, ip.words, parseNetOperand('::/0')), false, 'families differ');
    assert.equal(ipInNet(ip.family, ip.words, parseNetOperand('0.0.0.0/0')), true);
  });

  it('rejects networks without a valid prefix', () => {
    assert.throws(() => parseNetOperand('1.2.3.4'), ValueConversionError);
    assert.throws(() => parseNetOperand('1.2.3.0/33'), /netmask/);
    assert.throws(() => parseNetOperand('::/129'), /netmask/);
    assert.throws(() => parseIpOperand('10.0.0.0/8'), ValueConversionError);
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { requirePrivileged } from '../../test/harness/privileged.js';
import {
  MAX_KEPT_FLOWS,
  isCompleteQuarantine,
  parseInstalledQuarantine,
  parseProcNetTcp,
  quarantineRuleset,
  releaseRuleset,
  type KeptFlow,
} from './nft-ruleset.js';

const flow4: KeptFlow = {
  family: 4,
  localAddress: '10.0.0.2',
  localPort: 8080,
  remoteAddress: '10.0.0.1',
  remotePort: 40000,
};
const flow6: KeptFlow = {
  family: 6,
  localAddress: 'fd00::2',
  localPort: 443,
  remoteAddress: 'fd00::1',
  remotePort: 50000,
};

describe('quarantine ruleset text', () => {
  it('cuts everything but loopback, atomically replacing any earlier table', () => {
    const text = quarantineRuleset({ quarantineId: 'q-42', cutEstablished: true });
    const lines = text.split('\n');
    assert.deepEqual(lines.slice(0, 4), [
      'add table inet vigil_quarantine',
      'delete table inet vigil_quarantine',
      'table inet vigil_quarantine {',
      '  comment "vigil quarantine q-42"',
    ]);
    assert.match(
      text,
      /chain input \{\n {4}type filter hook input priority -300; policy drop;\n {4}iif "lo" accept\n {2}\}/,
    );
    assert.match(text, /chain forward \{\n {4}type filter hook forward priority -300; policy drop;\n {2}\}/);
    assert.match(
      text,
      /chain output \{\n {4}type filter hook output priority -300; policy drop;\n {4}oif "lo" accept\n {2}\}/,
    );
    assert.doesNotMatch(text, /ct state|kept4/);
  });

  it('keeps established connections by conntrack state and by 4-tuple, after conntrack on output', () => {
    const text = quarantineRuleset({ quarantineId: 'q-1', cutEstablished: false, keptFlows: [flow4, flow6] });
    assert.match(text, /elements = \{ 10\.0\.0\.2 \. 8080 \. 10\.0\.0\.1 \. 40000 \}/);
    assert.match(text, /elements = \{ fd00::2 \. 443 \. fd00::1 \. 50000 \}/);
    assert.match(text, /ip daddr \. tcp dport \. ip saddr \. tcp sport @kept4 accept/);
    assert.match(text, /ip saddr \. tcp sport \. ip daddr \. tcp dport @kept4 accept/);
    assert.match(text, /type filter hook output priority -190; policy drop;/);
    assert.equal(text.match(/ct state established,related accept/g)?.length, 3);
  });

  it('refuses ids that cannot go into a comment, bad flows and too many flows', () => {
    assert.throws(
      () => quarantineRuleset({ quarantineId: 'a"b', cutEstablished: true }),
      /quarantine id "a\\"b"/,
    );
    assert.throws(() => quarantineRuleset({ quarantineId: '', cutEstablished: true }), /quarantine id ""/);
    assert.throws(
      () =>
        quarantineRuleset({
          quarantineId: 'q',
          cutEstablished: false,
          keptFlows: [{ ...flow4, localAddress: '1.2.3; drop' }],
        }),
      /local address "1\.2\.3; drop" is not an IPv4 address/,
    );
    assert.throws(
      () =>
        quarantineRuleset({
          quarantineId: 'q',
          cutEstablished: false,
          keptFlows: [{ ...flow4, remotePort: 0 }],
        }),
      /bad port 0/,
    );
    const many = Array.from({ length: MAX_KEPT_FLOWS + 1 }, () => flow4);
    assert.throws(
      () => quarantineRuleset({ quarantineId: 'q', cutEstablished: false, keptFlows: many }),
      /at most 4096/,
    );
  });

  it('release deletes the table whether or not it exists', () => {
    assert.equal(releaseRuleset(), 'add table inet vigil_quarantine\ndelete table inet vigil_quarantine\n');
  });
});

describe('reading the installed table back', () => {
  const listing = `table inet vigil_quarantine {
	comment "vigil quarantine q-9"
	set kept4 {
		type ipv4_addr . inet_service . ipv4_addr . inet_service
		elements = { 10.0.0.2 . 8080 . 10.0.0.1 . 40000 }
	}
	chain input {
		type filter hook input priority raw; policy drop;
		iif "lo" accept
		ct state established,related accept
	}
	chain forward {
		type filter hook forward priority raw; policy drop;
	}
	chain output {
		type filter hook output priority -190; policy drop;
		oif "lo" accept
	}
}
`;

  it('finds the id, every base chain with its policy, and counts rules', () => {
    const installed = parseInstalledQuarantine(listing);
    assert.deepEqual(installed, {
      quarantineId: 'q-9',
      chains: { input: 'drop', forward: 'drop', output: 'drop' },
      rules: 3,
      foreignRules: [],
    });
    assert.equal(isCompleteQuarantine(installed, 'q-9'), true);
    assert.equal(isCompleteQuarantine(installed, 'q-8'), false);
  });

  it('is not complete when a chain accepts or is missing', () => {
    const accepting = parseInstalledQuarantine(
      listing.replace('output priority -190; policy drop', 'output priority -190; policy accept'),
    );
    assert.equal(isCompleteQuarantine(accepting, 'q-9'), false);
    const missing = parseInstalledQuarantine(listing.replace(/\tchain forward \{[^}]*\}\n/, ''));
    assert.deepEqual(missing.chains, { input: 'drop', output: 'drop' });
    assert.equal(isCompleteQuarantine(missing, 'q-9'), false);
  });

  it('is not complete when someone added a rule to it (a pod with CAP_NET_ADMIN)', () => {
    const opened = parseInstalledQuarantine(
      listing.replace('\t\toif "lo" accept\n', '\t\taccept\n\t\toif "lo" accept\n'),
    );
    assert.deepEqual(opened.foreignRules, ['accept']);
    assert.equal(isCompleteQuarantine(opened, 'q-9'), false);
  });

  it('says whose table it is not, and refuses output without the table', () => {
    assert.equal(
      parseInstalledQuarantine(listing.replace('vigil quarantine q-9', 'hand made')).quarantineId,
      undefined,
    );
    assert.throws(
      () => parseInstalledQuarantine('table inet other {\n}\n'),
      /holds no table inet vigil_quarantine/,
    );
  });
});

describe('established connections from /proc/net/tcp', () => {
  it('reads IPv4 listings (host-order hex), established only', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
      '   1: 0200000A:1F90 0100000A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1',
      '   2: 0200000A:1F90 0100000A:9C41 06 00000000:00000000 00:00000000 00000000     0        0 0 3 0 0 0 0 0 0',
    ].join('\n');
    assert.deepEqual(parseProcNetTcp(text, 4), [flow4]);
  });

  it('reads IPv6 listings, mapping IPv4-mapped sockets to IPv4 flows', () => {
    const header = '  sl  local_address                         remote_address                        st';
    const v6 = '   0: 000000FD000000000000000002000000:01BB 000000FD000000000000000001000000:C350 01 0';
    const mapped = '   1: 0000000000000000FFFF00000200000A:1F90 0000000000000000FFFF00000100000A:9C40 01 0';
    assert.deepEqual(parseProcNetTcp([header, v6, mapped].join('\n'), 6), [
      {
        family: 6,
        localAddress: 'fd00:0:0:0:0:0:0:2',
        localPort: 443,
        remoteAddress: 'fd00:0:0:0:0:0:0:1',
        remotePort: 50000,
      },
      flow4,
    ]);
  });
});

describe('nft accepts the generated text (privileged: nft -c in a fresh network namespace)', function () {
  before(function () {
    requirePrivileged(this, ['nft', 'unshare']);
  });

  for (const cutEstablished of [true, false]) {
    it(`cutEstablished: ${cutEstablished}`, () => {
      const text = quarantineRuleset({ quarantineId: 'q-check', cutEstablished, keptFlows: [flow4, flow6] });
      execFileSync('unshare', ['--net', 'nft', '-c', '-f', '-'], {
        input: text,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      execFileSync('unshare', ['--net', 'nft', '-c', '-f', '-'], {
        input: releaseRuleset(),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    });
  }
});

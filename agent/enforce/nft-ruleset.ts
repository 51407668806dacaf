/**
 * The nftables text of a pod's network quarantine, and the reading of it back.
 *
 * One table, `inet vigil_quarantine`, in the pod's network namespace, holding base chains on the
 * input, forward and output hooks with policy drop; only loopback passes. The table is written as
 * one `nft -f -` transaction that deletes any previous version and creates the new one, so the pod
 * is never without a quarantine while it is being replaced and never half-quarantined.
 *
 * Chain order. A drop in any base chain is final, while an accept only ends that chain, so our
 * drop cannot be undone by another table whatever the priorities; the priority matters only for
 * `ct` expressions. Conntrack runs in prerouting (-200) for arriving packets, so every input and
 * forward priority sees their state; for locally sent packets it runs in output at -200, so the
 * output chain sits at -190 when it keeps established connections (it needs their state) and at
 * raw priority (-300) otherwise, before conntrack so a refused packet leaves no conntrack entry.
 *
 * Keeping established connections (`cutEstablished: false`). `ct state established,related` alone
 * is not enough in a pod: conntrack is enabled in a network namespace only when the first rule
 * that needs it is loaded. A connection opened before that has no entry; its next packet is picked
 * up mid-stream (`nf_conntrack_tcp_loose`) with state `new`, our chain drops it, and a dropped
 * packet's entry is never confirmed — so every later packet is `new` again and the "kept"
 * connection is cut all the same (verified on kernel 6.18, and that `conntrack -L` then holds no
 * entry for it; quarantine-handler.test.ts "finding" tests). Loading a ct rule early — before the
 * connection was opened — does make conntrack track it, and `ct state established` then keeps it
 * (also verified); but an agent cannot go back in time for a pod that was running before it, and
 * loading rules into every pod just in case would touch pods nobody quarantined. So the ruleset
 * also accepts the TCP connections established when it is built, by exact 4-tuple
 * ({@link KeptFlow}, read from the namespace's /proc/net/tcp[6]): once one of their packets is
 * accepted, conntrack confirms the picked-up entry and `ct state established` carries them on.
 * New connections in either direction stay refused. Not kept: UDP "connections" (conntrack can
 * not tell a picked-up UDP flow from a new one), and connections beyond {@link MAX_KEPT_FLOWS}.
 */

/** The table's family and name. */
export const QUARANTINE_TABLE = { family: 'inet', name: 'vigil_quarantine' } as const;

/** Chains of the table, their hooks and priorities (see the module comment). */
const INPUT_PRIORITY = -300;
const FORWARD_PRIORITY = -300;
const OUTPUT_PRIORITY_CUT = -300;
const OUTPUT_PRIORITY_KEEP = -190;

/** Most connections a ruleset keeps by 4-tuple; more are cut (and the result says how many). */
export const MAX_KEPT_FLOWS = 4096;

/** An established TCP connection of the pod, seen from inside it. */
export interface KeptFlow {
  readonly family: 4 | 6;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

/** What a quarantine table says about itself. */
export interface QuarantineRulesetOptions {
  /** Written into the table's comment; it identifies the quarantine when the table is read back. */
  readonly quarantineId: string;
  /** Cut established connections (default behaviour) or keep them. */
  readonly cutEstablished: boolean;
  /** With `cutEstablished: false`, the connections to keep by 4-tuple (at most {@link MAX_KEPT_FLOWS}). */
  readonly keptFlows?: readonly KeptFlow[];
}

/** A quarantine id usable in the table comment: printable, no quotes, bounded. */
const ID_PATTERN = /^[A-Za-z0-9._:@/+-]{1,128}$/;

/** The comment prefix marking a table as Vigil's, followed by the quarantine id. */
const COMMENT_PREFIX = 'vigil quarantine ';

function checkFlow(flow: KeptFlow): void {
  const pattern = flow.family === 4 ? /^\d{1,3}(\.\d{1,3}){3}$/ : /^[0-9a-f:.]+$/i;
  for (const [what, value] of [
    ['local address', flow.localAddress],
    ['remote address', flow.remoteAddress],
  ] as const) {
    if (!pattern.test(value)) {
      throw new Error(`kept flow: ${what} ${JSON.stringify(value)} is not an IPv${flow.family} address`);
    }
  }
  for (const port of [flow.localPort, flow.remotePort]) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`kept flow: bad port ${port}`);
  }
}

function flowSet(name: string, type: string, flows: readonly KeptFlow[]): string[] {
  const lines = [`  set ${name} {`, `    type ${type} . inet_service . ${type} . inet_service`];
  if (flows.length > 0) {
    const elements = flows.map(
      (f) => `${f.localAddress} . ${f.localPort} . ${f.remoteAddress} . ${f.remotePort}`,
    );
    lines.push(`    elements = { ${elements.join(', ')} }`);
  }
  lines.push('  }');
  return lines;
}

/**
 * The `nft -f -` text that installs (or replaces) the quarantine table atomically.
 * Throws for an id that cannot go into a comment or a malformed kept flow.
 *
 * @example
 * quarantineRuleset({ quarantineId: 'q-42', cutEstablished: true })
 * // add table inet vigil_quarantine
 * // delete table inet vigil_quarantine
 * // table inet vigil_quarantine { comment "vigil quarantine q-42" ... policy drop ... }
 */
export function quarantineRuleset(options: QuarantineRulesetOptions): string {
  if (!ID_PATTERN.test(options.quarantineId)) {
    throw new Error(
      `quarantine id ${JSON.stringify(options.quarantineId)}: expected 1-128 of letters, digits and ._:@/+-`,
    );
  }
  const keep = !options.cutEstablished;
  const flows = keep ? (options.keptFlows ?? []) : [];
  if (flows.length > MAX_KEPT_FLOWS) {
    throw new Error(`${flows.length} kept flows: at most ${MAX_KEPT_FLOWS} fit in one ruleset`);
  }
  flows.forEach(checkFlow);
  const { family, name } = QUARANTINE_TABLE;
  const lines = [
    // `add` makes the `delete` valid when there is no table yet; all of it is one transaction.
    `add table ${family} ${name}`,
    `delete table ${family} ${name}`,
    `table ${family} ${name} {`,
    `  comment "${COMMENT_PREFIX}${options.quarantineId}"`,
  ];
  if (keep) {
    lines.push(
      ...flowSet(
        'kept4',
        'ipv4_addr',
        flows.filter((f) => f.family === 4),
      ),
    );
    lines.push(
      ...flowSet(
        'kept6',
        'ipv6_addr',
        flows.filter((f) => f.family === 6),
      ),
    );
  }
  const keepIn = keep
    ? [
        '    ct state established,related accept',
        '    ip daddr . tcp dport . ip saddr . tcp sport @kept4 accept',
        '    ip6 daddr . tcp dport . ip6 saddr . tcp sport @kept6 accept',
      ]
    : [];
  const keepOut = keep
    ? [
        '    ct state established,related accept',
        '    ip saddr . tcp sport . ip daddr . tcp dport @kept4 accept',
        '    ip6 saddr . tcp sport . ip6 daddr . tcp dport @kept6 accept',
      ]
    : [];
  lines.push(
    '  chain input {',
    `    type filter hook input priority ${INPUT_PRIORITY}; policy drop;`,
    '    iif "lo" accept',
    ...keepIn,
    '  }',
    '  chain forward {',
    `    type filter hook forward priority ${FORWARD_PRIORITY}; policy drop;`,
    ...(keep ? ['    ct state established,related accept'] : []),
    '  }',
    '  chain output {',
    `    type filter hook output priority ${keep ? OUTPUT_PRIORITY_KEEP : OUTPUT_PRIORITY_CUT}; policy drop;`,
    '    oif "lo" accept',
    ...keepOut,
    '  }',
    '}',
  );
  return lines.join('\n') + '\n';
}

/** The `nft -f -` text that removes the quarantine table, whether or not it exists. */
export function releaseRuleset(): string {
  const { family, name } = QUARANTINE_TABLE;
  return `add table ${family} ${name}\ndelete table ${family} ${name}\n`;
}

/** The quarantine table as read back from `nft list table inet vigil_quarantine`. */
export interface InstalledQuarantine {
  /** The id from the table comment; undefined when the comment is not Vigil's. */
  readonly quarantineId: string | undefined;
  /** Hook name -> chain policy, for every base chain of the table. */
  readonly chains: Readonly<Record<string, string>>;
  /** Rules in the table. */
  readonly rules: number;
  /** Rules that are none of the ruleset's own (see {@link quarantineRuleset}), as listed. */
  readonly foreignRules: readonly string[];
}

/**
 * Every rule the ruleset writes, as `nft list` prints it. Any other rule in the table was added
 * by someone else (a pod with CAP_NET_ADMIN in its own namespace could add an `accept`): the
 * table is then not a complete quarantine, and the next check re-applies it.
 */
const OWN_RULES: ReadonlySet<string> = new Set([
  'iif "lo" accept',
  'oif "lo" accept',
  'ct state established,related accept',
  'ip daddr . tcp dport . ip saddr . tcp sport @kept4 accept',
  'ip6 daddr . tcp dport . ip6 saddr . tcp sport @kept6 accept',
  'ip saddr . tcp sport . ip daddr . tcp dport @kept4 accept',
  'ip6 saddr . tcp sport . ip6 daddr . tcp dport @kept6 accept',
]);

/**
 * Reads the output of `nft list table inet vigil_quarantine` (the text form: nft 1.0's JSON
 * leaves out table comments). Throws when it holds no such table.
 */
export function parseInstalledQuarantine(text: string): InstalledQuarantine {
  const { family, name } = QUARANTINE_TABLE;
  const lines = text.split('\n').map((l) => l.trim());
  const start = lines.indexOf(`table ${family} ${name} {`);
  if (start < 0) throw new Error(`nft output holds no table ${family} ${name}: ${text.slice(0, 200)}`);
  let quarantineId: string | undefined;
  const chains: Record<string, string> = {};
  let rules = 0;
  const foreignRules: string[] = [];
  const blocks: string[] = []; // the headers of the blocks we are in
  for (const line of lines.slice(start)) {
    if (line.endsWith('{')) {
      blocks.push(line);
      continue;
    }
    if (line === '}') {
      blocks.pop();
      if (blocks.length === 0) break;
      continue;
    }
    const depth = blocks.length;
    const inChain = depth === 2 && blocks[1]?.startsWith('chain ') === true;
    const comment = /^comment "(.*)"$/.exec(line);
    if (depth === 1 && comment !== null) {
      const value = comment[1] ?? '';
      if (value.startsWith(COMMENT_PREFIX)) quarantineId = value.slice(COMMENT_PREFIX.length);
      continue;
    }
    const base = /^type \w+ hook (\w+) (?:device \S+ )?priority [^;]+; policy (\w+);$/.exec(line);
    if (inChain && base !== null) {
      chains[base[1] ?? ''] = base[2] ?? '';
      continue;
    }
    if (inChain && line !== '') {
      rules++;
      if (!OWN_RULES.has(line)) foreignRules.push(line);
    }
  }
  return { quarantineId, chains, rules, foreignRules };
}

/**
 * True when the installed table is a complete quarantine for `quarantineId`: every hook dropping,
 * and no rule but the ruleset's own.
 */
export function isCompleteQuarantine(installed: InstalledQuarantine, quarantineId: string): boolean {
  return (
    installed.quarantineId === quarantineId &&
    ['input', 'forward', 'output'].every((hook) => installed.chains[hook] === 'drop') &&
    installed.foreignRules.length === 0
  );
}

const TCP_ESTABLISHED = '01';

function hexToIpv4(hex: string): string {
  // /proc/net/tcp prints the address as a host-order (little-endian here) 32-bit word.
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

function hexToIpv6(hex: string): string {
  // Four host-order 32-bit words.
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = Number.parseInt(hex.slice(w * 8, w * 8 + 8), 16);
    bytes.push(word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, (word >>> 24) & 0xff);
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return groups.join(':');
}

/**
 * The established TCP connections in a /proc/net/tcp (`family` 4) or /proc/net/tcp6 (6) listing.
 * IPv4-mapped IPv6 sockets are returned as IPv4 flows (that is how their packets look).
 */
export function parseProcNetTcp(text: string, family: 4 | 6): KeptFlow[] {
  const flows: KeptFlow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[3] !== TCP_ESTABLISHED) continue;
    const [local, remote] = [cols[1] ?? '', cols[2] ?? ''].map((a) => a.split(':'));
    if (local?.length !== 2 || remote?.length !== 2) continue;
    const localPort = Number.parseInt(local[1] ?? '', 16);
    const remotePort = Number.parseInt(remote[1] ?? '', 16);
    if (family === 4) {
      flows.push({
        family: 4,
        localAddress: hexToIpv4(local[0] ?? ''),
        localPort,
        remoteAddress: hexToIpv4(remote[0] ?? ''),
        remotePort,
      });
      continue;
    }
    const l = hexToIpv6(local[0] ?? '');
    const r = hexToIpv6(remote[0] ?? '');
    const mapped = (a: string): string | undefined => {
      const m = /^0:0:0:0:0:ffff:([0-9a-f]+):([0-9a-f]+)$/.exec(a);
      if (m === null) return undefined;
      const hi = Number.parseInt(m[1] ?? '0', 16);
      const lo = Number.parseInt(m[2] ?? '0', 16);
      return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
    };
    const l4 = mapped(l);
    const r4 = mapped(r);
    if (l4 !== undefined && r4 !== undefined) {
      flows.push({ family: 4, localAddress: l4, localPort, remoteAddress: r4, remotePort });
    } else {
      flows.push({ family: 6, localAddress: l, localPort, remoteAddress: r, remotePort });
    }
  }
  return flows;
}

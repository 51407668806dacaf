/**
 * Micro-benchmark of the profile codec and of the collector's per-delta work (issue 6).
 *
 * 1. `encodeProfile` and `decodeProfile` of a realistic ~9 KB profile (about 70 items of every
 *    kind, each seen by one or two of three nodes with cloud-style names), and of a ~1,000-item one.
 * 2. The collector's work per delta, as `collector/baseline/baseline-service.ts` does it: decode
 *    the delta, merge it into the stored profile, encode the result, compare the bytes. Measured
 *    once with whole profiles as deltas (what agents sent before real deltas) and once with the
 *    delta of one item whose last-seen moved.
 *
 * Prints figures; it does not fail on machine noise. Run from a build directory:
 *   node .build-NAME/test/bench/profile-codec.js
 */
import {
  decodeProfile,
  emptyProfile,
  encodeProfile,
  mergeProfiles,
  observationDelta,
  type Profile,
  type ProfileItemKind,
} from '../../core/baseline/profile.js';

const KEY = 'payments/Deployment/checkout-api/api|registry.example.com/payments/checkout-api:1.42.7';
const NODES = Array.from(
  { length: 12 },
  (_, i) => `ip-10-0-${20 + i}-${100 + i * 7}.eu-west-1.compute.internal`,
);

function observed(
  kind: ProfileItemKind,
  value: string,
  t: number,
): {
  kind: ProfileItemKind;
  value: string;
  firstSeenMs: number;
  lastSeenMs: number;
} {
  return { kind, value, firstSeenMs: t, lastSeenMs: t + 3_600_000 };
}

/** A profile as three nodes would learn it: `scale` sets how many items of each kind. */
function realistic(scale: number): Profile {
  const t0 = 1_714_564_800_000;
  let p = emptyProfile(KEY);
  for (let n = 0; n < 3; n++) {
    const node = NODES[n] as string;
    const items = [];
    for (let i = 0; i < scale; i++) {
      if ((i + n) % 3 === 2) continue; // each node sees two thirds
      items.push(observed('exec', `/usr/local/lib/python3.12/site-packages/bin/tool-${i}`, t0 + i));
      items.push(observed('spawn', `/bin/sh -> /usr/local/bin/worker-${i}`, t0 + i));
      items.push(observed('file_write', `/var/lib/app/cache/shard-${i % 64}/*`, t0 + i));
      items.push(observed('connect', `tcp 10.12.${i % 250}.${(i * 7) % 250}:${5000 + i}`, t0 + i));
      if (i % 8 === 0) items.push(observed('user', `svc-${i}`, t0 + i));
      if (i % 8 === 4) items.push(observed('listen', `tcp ${8000 + i}`, t0 + i));
    }
    p = mergeProfiles(p, observationDelta(p, node, 600_000, items, 0));
  }
  return p;
}

function opsPerSecond(run: () => void, minMs = 1500): number {
  for (let i = 0; i < 50; i++) run(); // warm up
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 20; i++) run();
    n += 20;
    elapsed = performance.now() - start;
  }
  return (n * 1000) / elapsed;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

for (const [label, scale] of [
  ['~9 KB', 16],
  ['~1,000 items', 300],
] as const) {
  const p = realistic(scale);
  const bytes = encodeProfile(p);
  let sink = 0;
  const enc = opsPerSecond(() => {
    sink += encodeProfile(p).length;
  });
  const dec = opsPerSecond(() => {
    sink += decodeProfile(bytes).items.size;
  });
  console.log(
    `profile ${label}: ${bytes.length} bytes, ${p.items.size} items; ` +
      `encode ${fmt(enc)}/s (${fmt((enc * bytes.length) / 1e6)} MB/s), decode ${fmt(dec)}/s` +
      (sink < 0 ? '' : ''),
  );

  // The collector's per-delta work: decode, merge into the stored profile, encode, compare.
  const stored = p;
  const storedBytes = bytes;
  const item = [...p.items.values()][Math.floor(p.items.size / 2)];
  if (item === undefined) throw new Error('no items');
  const moved = observationDelta(
    p,
    NODES[0] as string,
    0,
    [
      {
        kind: item.kind,
        value: item.value,
        firstSeenMs: item.firstSeenMs,
        lastSeenMs: item.lastSeenMs + 600_000,
      },
    ],
    0,
  );
  const wholeDelta = encodeProfile(mergeProfiles(p, moved));
  const smallDelta = encodeProfile(moved);
  for (const [what, delta] of [
    ['whole profile as delta', wholeDelta],
    ['one-item delta', smallDelta],
  ] as const) {
    const rate = opsPerSecond(() => {
      const merged = mergeProfiles(stored, decodeProfile(delta));
      const encoded = encodeProfile(merged);
      if (sameBytes(encoded, storedBytes)) sink++;
    });
    console.log(`  collector merge, ${what} (${delta.length} bytes): ${fmt(rate)} deltas/s`);
  }
}

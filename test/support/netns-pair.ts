/**
 * Two network namespaces joined by a veth pair, with TCP echo servers and line clients inside
 * them, for tests of network enforcement (root only). Servers and clients are small Node programs
 * started with `ip netns exec`, speaking JSON lines to the test.
 *
 * @example
 * const pair = await createNetnsPair('t1');           // namespaces vq-t1-a (10.x.x.1), vq-t1-b (.2)
 * const server = await pair.echoServer('a', 7000);
 * const client = await pair.client('b', pair.addressA, 7000);
 * assert.equal(await client.roundTrip('hi'), 'ok');
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

const SERVER = `
const net = require('node:net');
const server = net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('error', () => {}); });
server.listen(Number(process.argv[2]), process.argv[1], () => console.log(JSON.stringify({ listening: true })));
`;

const CLIENT = `
const net = require('node:net');
const readline = require('node:readline');
const s = net.connect(Number(process.argv[2]), process.argv[1]);
const say = (o) => console.log(JSON.stringify(o));
let waiting;
s.on('connect', () => say({ connected: true }));
s.on('error', (e) => say({ error: e.code ?? e.message }));
s.on('data', (d) => { if (waiting) { clearTimeout(waiting.t); waiting = undefined; say({ reply: d.toString() }); } });
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [ms, text] = JSON.parse(line);
  waiting = { t: setTimeout(() => { waiting = undefined; say({ timeout: true }); }, ms) };
  s.write(text);
});
`;

/** A JSON-lines child process. */
class LineProcess {
  readonly lines: Record<string, unknown>[] = [];
  private readonly waiters = new Set<() => void>();
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    let rest = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      const parts = (rest + c).split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) if (p !== '') this.lines.push(JSON.parse(p) as Record<string, unknown>);
      this.waiters.forEach((w) => w());
    });
    child.on('exit', () => this.waiters.forEach((w) => w()));
  }
  /** The next line at or after index `from` with key `key` (or any of `keys`), within `ms`. */
  async next(from: number, keys: readonly string[], ms: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.lines.slice(from).find((l) => keys.some((k) => k in l));
      if (found !== undefined) return found;
      if (this.child.exitCode !== null) throw new Error(`process exited before ${keys.join('/')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${keys.join('/')} within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }
  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** A TCP client in a namespace holding one connection. */
export interface LineClient {
  /** 'connected' or the error code (ECONNREFUSED, ETIMEDOUT ...) of the connection attempt, within `ms`. */
  connected(ms?: number): Promise<string>;
  /** Sends `text` and waits up to `ms` for the echo: 'ok', 'timeout' or the socket error. */
  roundTrip(text: string, ms?: number): Promise<string>;
  stop(): void;
}

/** See the module comment. */
export interface NetnsPair {
  readonly nsA: string;
  readonly nsB: string;
  readonly addressA: string;
  readonly addressB: string;
  /** Starts an echo server in `side` on `port` (all of its addresses). */
  echoServer(side: 'a' | 'b', port: number): Promise<{ stop(): void }>;
  /** Connects from `side` to `address:port`. */
  client(side: 'a' | 'b', address: string, port: number): LineClient;
  /** Runs a command in `side`'s namespace. */
  run(side: 'a' | 'b', argv: readonly string[], stdin?: string): Promise<string>;
  destroy(): Promise<void>;
}

/** Creates the pair `vq-<tag>-a` / `vq-<tag>-b` on 10.<n>.<m>.0/24 (removing leftovers first). */
export async function createNetnsPair(tag: string, subnet = '10.231.7'): Promise<NetnsPair> {
  const nsA = `vq-${tag}-a`;
  const nsB = `vq-${tag}-b`;
  const vethA = `vq${tag}a`.slice(0, 15);
  const vethB = `vq${tag}b`.slice(0, 15);
  const addressA = `${subnet}.1`;
  const addressB = `${subnet}.2`;
  const children = new Set<LineProcess>();
  const destroy = async (): Promise<void> => {
    children.forEach((c) => c.stop());
    await exec('ip', ['netns', 'del', nsA]).catch(() => undefined);
    await exec('ip', ['netns', 'del', nsB]).catch(() => undefined);
  };
  await destroy();
  await exec('ip', ['netns', 'add', nsA]);
  await exec('ip', ['netns', 'add', nsB]);
  await exec('ip', ['link', 'add', vethA, 'netns', nsA, 'type', 'veth', 'peer', 'name', vethB, 'netns', nsB]);
  for (const [ns, dev, addr] of [
    [nsA, vethA, addressA],
    [nsB, vethB, addressB],
  ] as const) {
    await exec('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev]);
    await exec('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    await exec('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  const nsOf = (side: 'a' | 'b'): string => (side === 'a' ? nsA : nsB);
  const node = (side: 'a' | 'b', script: string, args: string[]): LineProcess => {
    const p = new LineProcess(
      spawn('ip', ['netns', 'exec', nsOf(side), process.execPath, '-e', script, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    children.add(p);
    return p;
  };
  return {
    nsA,
    nsB,
    addressA,
    addressB,
    async echoServer(side, port) {
      const p = node(side, SERVER, ['0.0.0.0', String(port)]);
      await p.next(0, ['listening'], 10_000);
      return { stop: () => p.stop() };
    },
    client(side, address, port) {
      const p = node(side, CLIENT, [address, String(port)]);
      return {
        async connected(ms = 3000) {
          try {
            const line = await p.next(0, ['connected', 'error'], ms);
            return 'connected' in line ? 'connected' : String(line['error']);
          } catch {
            return 'timeout';
          }
        },
        async roundTrip(text, ms = 1500) {
          const from = p.lines.length;
          p.child.stdin.write(JSON.stringify([ms, text]) + '\n');
          const line = await p.next(from, ['reply', 'timeout', 'error'], ms + 3000);
          if ('reply' in line) return line['reply'] === text ? 'ok' : `wrong reply ${String(line['reply'])}`;
          return 'timeout' in line ? 'timeout' : String(line['error']);
        },
        stop: () => p.stop(),
      };
    },
    async run(side, argv, stdin) {
      const child = spawn('ip', ['netns', 'exec', nsOf(side), ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      child.stdin.on('error', () => undefined); // the program may exit without reading it
      child.stdin.end(stdin ?? '');
      const code = await new Promise<number | null>((r) => child.on('close', r));
      if (code !== 0) throw new Error(`${argv.join(' ')} in ${nsOf(side)} exited ${code}: ${err}`);
      return out;
    },
    destroy,
  };
}

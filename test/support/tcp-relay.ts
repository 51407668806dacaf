/**
 * A TCP relay between an agent and the collector, for tests that need the link to fail in a
 * precise way: the bytes are passed through untouched (mutual TLS stays end to end), and the test
 * can hold what the agent sends (the collector's commands still reach the agent, its answers do
 * not leave), cut every connection, and refuse new ones for a while.
 *
 * @example
 * const relay = await startTcpRelay(collector.grpcPort);
 * // agent: collector.address = 127.0.0.1:${relay.port}
 * relay.holdUpstream(); ...; relay.cut(); relay.refuse(true); ...; relay.refuse(false);
 */
import net from 'node:net';

/** A running relay; see the module comment. */
export interface TcpRelay {
  /** The port clients dial (127.0.0.1). */
  readonly port: number;
  /** Connections relayed so far. */
  readonly connections: number;
  /** Stops reading what clients send (it stays in the socket buffers, undelivered) until {@link cut}. */
  holdUpstream(): void;
  /** Ends every open connection, both sides, at once. */
  cut(): void;
  /** While true, new connections are closed as soon as they are accepted. */
  refuse(on: boolean): void;
  close(): Promise<void>;
}

/** Starts a relay on 127.0.0.1 (a free port) to `127.0.0.1:targetPort`. */
export async function startTcpRelay(targetPort: number): Promise<TcpRelay> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  let refusing = false;
  let held = false;
  let connections = 0;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    connections++;
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    const pair = { client, upstream };
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
    if (held) client.pause();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the relay has no TCP address');
  return {
    port: address.port,
    get connections() {
      return connections;
    },
    holdUpstream() {
      held = true;
      for (const { client } of pairs) {
        client.unpipe();
        client.pause();
      }
    },
    cut() {
      held = false;
      for (const { client, upstream } of [...pairs]) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    refuse(on) {
      refusing = on;
    },
    async close() {
      refusing = true;
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

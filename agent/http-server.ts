/**
 * The agent's HTTP endpoint: `/metrics` (Prometheus text), `/healthz` (the process is alive) and
 * `/readyz` (sources started, rules loaded, spool open).
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** What the endpoint asks the agent for. */
export interface HealthProbe {
  /** Undefined when ready; otherwise why not. */
  notReady(): string | undefined;
}

/** Parses `HOST:PORT` (`[::1]:9376`, `0.0.0.0:9376`, `:9376`). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (m === null || !(port >= 0 && port <= 65535)) {
    throw new Error(`listen address ${JSON.stringify(text)}: expected HOST:PORT, e.g. 127.0.0.1:9376`);
  }
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : (m[2] as string)), port };
}

/** Starts the endpoint; resolves with the server once it listens. */
export async function startHttpEndpoint(
  listen: string,
  registry: Registry,
  health: HealthProbe,
): Promise<Server> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) =>
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const why = health.notReady();
      res
        .writeHead(why === undefined ? 200 : 503, { 'content-type': 'text/plain' })
        .end(`${why ?? 'ready'}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/**
 * Serves the SOC console's static shell: `GET /` redirects to `/console/`, `GET /console/` is
 * the page, `GET /console/<file>` its scripts and style sheet. These routes need no token — the
 * shell holds no data; every alert, agent or quarantine the page shows comes from the API with
 * the token the user pastes.
 *
 * The files are read once, at start, from one flat directory (the compiled console, see
 * `web/build-console.mjs`) into memory: a request can only ever get one of those files, by exact
 * name, so no path a client sends reaches the file system (no traversal, no symlink games). The
 * directory holds a few dozen small files, which bounds the memory this takes.
 *
 * Caching: every answer carries a strong ETag and `Cache-Control: no-cache`, so browsers
 * revalidate (a cheap 304) and never run a stale script after an upgrade. The page is sent with
 * a Content-Security-Policy that allows only the collector's own scripts, styles and
 * connections.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiError } from '../api/api-error.js';
import type { ApiResponse, Route } from '../api/router.js';
import type { Logger } from '../../core/log.js';

/** Where the built console is, beside this module. */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('./static/', import.meta.url));

/** Where the console is served. */
export const CONSOLE_PATH = '/console/';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
};

/** The largest file the console may have: a guard against serving something never meant for it. */
const MAX_FILE_BYTES = 2 * 1024 * 1024;

/**
 * The page's policy: scripts, styles, images and connections (the API, the WebSocket feed) from
 * the collector only; no inline script, no framing, no plug-ins.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** Options of {@link consoleRoutes}. */
export interface ConsoleRoutesOptions {
  /** The built console's directory (default: `static/` beside this module). */
  readonly dir?: string;
  /** Told once when the console is not built (the API works without it). */
  readonly logger?: Logger;
}

/** Reads the console's files into memory; throws naming the directory when it has no page. */
export function loadConsoleFiles(dir: string): ReadonlyMap<string, StaticFile> {
  if (!existsSync(join(dir, 'index.html'))) {
    throw new Error(`the console is not built: no index.html in ${dir} (run npm run build)`);
  }
  const files = new Map<string, StaticFile>();
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[extname(name)];
    const path = join(dir, name);
    if (type === undefined || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) continue;
    // lstat: a symbolic link is skipped, so nothing outside the directory is ever served.
    const stat = lstatSync(path);
    if (!stat.isFile() || stat.size > MAX_FILE_BYTES) continue;
    const body = readFileSync(path);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    files.set(name, { body, type, etag });
  }
  return files;
}

function serve(file: StaticFile, ifNoneMatch: string | undefined, page: boolean): ApiResponse {
  const headers: Record<string, string> = {
    'content-type': file.type,
    'cache-control': 'no-cache',
    etag: file.etag,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  if (page) {
    headers['content-security-policy'] = CONSOLE_CSP;
    headers['x-frame-options'] = 'DENY';
  }
  if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((t) => t.trim() === file.etag)) {
    return { status: 304, raw: '', headers };
  }
  return { raw: file.body, headers };
}

/**
 * The console's routes, to mount on the API server beside the others.
 *
 * @example
 * createApiServer({ ..., routes: [...consoleRoutes(), ...otherRoutes] });
 */
export function consoleRoutes(options: ConsoleRoutesOptions = {}): Route[] {
  const dir = options.dir ?? DEFAULT_CONSOLE_DIR;
  let files: ReadonlyMap<string, StaticFile>;
  try {
    files = loadConsoleFiles(dir);
  } catch (err) {
    // A collector built without its console (a test build) still serves the API.
    const detail = (err as Error).message;
    options.logger?.warn('the console is not served', { component: 'console', err: detail });
    const missing = (): ApiResponse => {
      throw new ApiError(503, detail);
    };
    return [
      { method: 'GET', path: '/console', access: 'anonymous', handler: missing },
      { method: 'GET', path: '/console/:file', access: 'anonymous', handler: missing },
    ];
  }
  const index = files.get('index.html') as StaticFile;
  return [
    {
      method: 'GET',
      path: '/',
      access: 'anonymous',
      handler: () => ({
        status: 302,
        raw: '',
        headers: { location: CONSOLE_PATH, 'content-type': 'text/plain; charset=utf-8' },
      }),
    },
    {
      method: 'GET',
      path: '/console',
      access: 'anonymous',
      handler: (req) => serve(index, req.headers['if-none-match'], true),
    },
    {
      method: 'GET',
      path: '/console/:file',
      access: 'anonymous',
      handler(req) {
        const name = req.params['file'] as string;
        const file = files.get(name);
        if (file === undefined) throw new ApiError(404, `the console has no file '${name}'`);
        return serve(file, req.headers['if-none-match'], name === 'index.html');
      },
    },
  ];
}

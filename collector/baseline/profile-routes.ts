/**
 * The profiles API: the console lists the collector's merged workload profiles and operators
 * edit them. Reads need `viewer`, edits `responder`; an edit records the caller's token name as
 * its actor, is written before the answer, and goes out to every connected agent.
 *
 * - `GET /api/v1/profiles?namespace=&status=learning|locked&limit=` → `{ profiles: [summary
 *   with items: [] and itemCount] }`, by key
 * - `GET /api/v1/profiles/:key` (the key URL-encoded) → the summary with its items, or 404
 * - `POST /api/v1/profiles/:key/reopen` → the summary (learning again)
 * - `POST /api/v1/profiles/:key/lock` → the summary (locked)
 * - `POST /api/v1/profiles/:key/items` body `{ action: 'add'|'remove', kind, value }` → the summary
 *
 * Each edit that succeeds is recorded in the audit log (when one is given): action
 * `profile.lock`, `profile.reopen`, `profile.item.add` or `profile.item.remove`, actor
 * `token:<name>`, detail `{ key, item? }`. A refused edit records nothing.
 */
import { MAX_VALUE_LENGTH, PROFILE_ITEM_KINDS, type ProfileItemKind } from '../../core/baseline/profile.js';
import { ApiError, badParameter } from '../api/api-error.js';
import type { ApiRequest, Route } from '../api/router.js';
import type { AuditEntry } from '../response/audit-log.js';
import type { BaselineService, ProfileEdit } from './baseline-service.js';

/** Most profiles one list answer holds (and its `limit`'s maximum). */
export const MAX_LIST_LIMIT = 100_000;

const LIST_PARAMETERS = ['namespace', 'status', 'limit'];
const ITEM_FIELDS = ['action', 'kind', 'value'];

function isItemKind(kind: string): kind is ProfileItemKind {
  return (PROFILE_ITEM_KINDS as readonly string[]).includes(kind);
}

function keyOf(req: ApiRequest): string {
  return req.params['key'] as string;
}

function actorOf(req: ApiRequest): string {
  // Edit routes need a responder: there is always a principal.
  return req.principal?.name ?? 'unknown';
}

/** Reads and checks the body of `POST .../items`. */
async function parseItemEdit(req: ApiRequest): Promise<ProfileEdit> {
  const body = await req.json();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'the body must be a JSON object { action, kind, value }');
  }
  const record = body as Record<string, unknown>;
  for (const field of Object.keys(record)) {
    if (!ITEM_FIELDS.includes(field)) {
      throw badParameter(field, `unknown field; expected ${ITEM_FIELDS.join(', ')}`);
    }
  }
  const { action, kind, value } = record;
  if (action !== 'add' && action !== 'remove') {
    throw badParameter('action', `must be 'add' or 'remove', got ${JSON.stringify(action) ?? 'nothing'}`);
  }
  if (typeof kind !== 'string' || !isItemKind(kind)) {
    throw badParameter(
      'kind',
      `unknown item kind ${JSON.stringify(kind) ?? '(missing)'}; expected one of ${PROFILE_ITEM_KINDS.join(', ')}`,
    );
  }
  if (typeof value !== 'string' || value.trim() === '') {
    throw badParameter('value', 'must be a non-empty string');
  }
  if (value.length > MAX_VALUE_LENGTH) {
    throw badParameter('value', `${value.length} characters; at most ${MAX_VALUE_LENGTH}`);
  }
  // eslint-disable-next-line no-control-regex -- control characters are what is refused.
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw badParameter('value', 'must not contain control characters');
  }
  // A lone surrogate cannot be stored as UTF-8: it would read back as another value.
  if (!(value as unknown as { isWellFormed(): boolean }).isWellFormed()) {
    throw badParameter('value', 'must be well-formed Unicode (it holds a lone surrogate)');
  }
  return { action, item: { kind, value } };
}

function parseLimit(text: string | null): number | undefined {
  if (text === null) return undefined;
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1 || Number(text) > MAX_LIST_LIMIT) {
    throw badParameter('limit', `must be an integer from 1 to ${MAX_LIST_LIMIT}, got '${text}'`);
  }
  return Number(text);
}

/** The audit-log action of an edit. */
function auditAction(e: ProfileEdit): string {
  return e.action === 'add' || e.action === 'remove' ? `profile.item.${e.action}` : `profile.${e.action}`;
}

/** Options of {@link profileRoutes}. */
export interface ProfileRouteOptions {
  /** Appends to the audit log (`AuditLog.append`); called after each edit that succeeded. */
  readonly audit?: (entry: AuditEntry) => void;
}

/** The profile routes, over `baselines`. */
export function profileRoutes(baselines: BaselineService, options: ProfileRouteOptions = {}): Route[] {
  const edit = (req: ApiRequest, e: ProfileEdit): { body: unknown } => {
    const key = keyOf(req);
    const actor = actorOf(req);
    const outcome = baselines.edit(key, e, actor);
    if (!outcome.ok) {
      if (outcome.reason === 'not-found') throw new ApiError(404, `no profile with key '${key}'`);
      throw new ApiError(400, outcome.detail);
    }
    options.audit?.({
      actor: `token:${actor}`,
      action: auditAction(e),
      namespace: outcome.summary.namespace,
      detail: { key, ...('item' in e && { item: { kind: e.item.kind, value: e.item.value } }) },
    });
    return { body: outcome.summary };
  };
  return [
    {
      method: 'GET',
      path: '/api/v1/profiles',
      access: 'viewer',
      handler(req) {
        for (const name of req.query.keys()) {
          if (!LIST_PARAMETERS.includes(name)) {
            throw badParameter(name, `unknown parameter; expected one of ${LIST_PARAMETERS.join(', ')}`);
          }
        }
        const namespace = req.query.get('namespace');
        const status = req.query.get('status');
        if (status !== null && status !== '' && status !== 'learning' && status !== 'locked') {
          throw badParameter('status', `must be 'learning' or 'locked', got '${status}'`);
        }
        const limit = parseLimit(req.query.get('limit'));
        const profiles = baselines.list({
          ...(namespace !== null && namespace !== '' && { namespace }),
          ...(status !== null && status !== '' && { status }),
          ...(limit !== undefined && { limit }),
        });
        return { body: { profiles } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/profiles/:key',
      access: 'viewer',
      handler(req) {
        const key = keyOf(req);
        const summary = baselines.get(key);
        if (summary === undefined) throw new ApiError(404, `no profile with key '${key}'`);
        return { body: summary };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/profiles/:key/reopen',
      access: 'responder',
      handler: (req) => edit(req, { action: 'reopen' }),
    },
    {
      method: 'POST',
      path: '/api/v1/profiles/:key/lock',
      access: 'responder',
      handler: (req) => edit(req, { action: 'lock' }),
    },
    {
      method: 'POST',
      path: '/api/v1/profiles/:key/items',
      access: 'responder',
      maxBodyBytes: 16 * 1024,
      async handler(req) {
        return edit(req, await parseItemEdit(req));
      },
    },
  ];
}

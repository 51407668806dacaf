/**
 * The response's HTTP API (CONTRACTS 7). Reading is for viewers; acting for responders.
 *
 * - `GET /api/v1/quarantines?state=active|releasing|released|failed|open|all&namespace=&pod=&node=&limit=`
 *   → `{ quarantines }`, newest first (default state `all`, limit 100, at most 1000)
 * - `GET /api/v1/quarantines/:id` → a quarantine, or 404
 * - `POST /api/v1/quarantines` `{ namespace, pod, reason, alertId?, cutEstablished?, freeze?, force? }`
 *   or `{ alertId, reason }` → 201 with the new quarantine (200 with the open one when the pod
 *   already had one), once both layers answered or timed out
 * - `POST /api/v1/quarantines/:id/release` `{ reason }` → 200 with the quarantine
 * - `GET /api/v1/audit?limit=&before=&quarantine=` → `{ records, next }`, newest first
 * - `GET /api/v1/audit/verify` → `{ ok, records, firstBad?, detail?, headHash? }`
 */
import { ApiError, badParameter } from '../api/api-error.js';
import type { ApiRequest, Route } from '../api/router.js';
import type { AuditLog } from './audit-log.js';
import { MAX_AUDIT_PAGE } from './audit-log.js';
import {
  QuarantineRequestError,
  type QuarantineActor,
  type QuarantineRequest,
  type QuarantineService,
} from './quarantine-service.js';
import { MAX_QUARANTINE_PAGE, QUARANTINE_STATES, type QuarantineQuery } from './quarantine-store.js';

const START_KEYS = ['namespace', 'pod', 'reason', 'alertId', 'cutEstablished', 'freeze', 'force'] as const;

function asApiError(err: unknown): unknown {
  if (err instanceof QuarantineRequestError) {
    return new ApiError(err.status, err.message, err.field !== undefined ? { parameter: err.field } : {});
  }
  return err;
}

function actorOf(req: ApiRequest): QuarantineActor {
  const p = req.principal;
  if (p === undefined) throw new ApiError(401, 'this needs a token');
  return { kind: 'token', name: p.name, role: p.role };
}

async function jsonObject(req: ApiRequest): Promise<Record<string, unknown>> {
  const body = await req.json();
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, 'the body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badParameter(key, `expected a string, got ${typeof v}`);
  return v;
}

function optionalBool(body: Record<string, unknown>, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badParameter(key, `expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

function limitParam(req: ApiRequest, max: number): number | undefined {
  const text = req.query.get('limit');
  if (text === null) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max)
    throw badParameter('limit', `expected an integer from 1 to ${max}, got '${text}'`);
  return n;
}

/** The response routes. */
export function responseRoutes(options: {
  readonly service: QuarantineService;
  readonly audit: AuditLog;
}): Route[] {
  const { service, audit } = options;
  return [
    {
      method: 'GET',
      path: '/api/v1/quarantines',
      access: 'viewer',
      handler(req) {
        const state = req.query.get('state') ?? 'all';
        const states: readonly string[] = [...QUARANTINE_STATES, 'open', 'all'];
        if (!states.includes(state))
          throw badParameter('state', `expected one of ${states.join(', ')}, got '${state}'`);
        const query: { -readonly [K in keyof QuarantineQuery]: QuarantineQuery[K] } = {
          state: state as QuarantineQuery['state'] & string,
        };
        for (const key of ['namespace', 'pod', 'node'] as const) {
          const v = req.query.get(key);
          if (v !== null && v !== '') query[key] = v;
        }
        const limit = limitParam(req, MAX_QUARANTINE_PAGE);
        if (limit !== undefined) query.limit = limit;
        return { body: { quarantines: service.list(query) } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/quarantines/:id',
      access: 'viewer',
      handler(req) {
        const id = req.params['id'] as string;
        const q = service.get(id);
        if (q === undefined) throw new ApiError(404, `no quarantine with id '${id}'`);
        return { body: q };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/quarantines',
      access: 'responder',
      maxBodyBytes: 64 * 1024,
      async handler(req) {
        const actor = actorOf(req);
        const body = await jsonObject(req);
        for (const k of Object.keys(body)) {
          if (!(START_KEYS as readonly string[]).includes(k)) {
            throw badParameter(k, `unknown field; expected some of ${START_KEYS.join(', ')}`);
          }
        }
        const reason = optionalString(body, 'reason');
        if (reason === undefined || reason.trim() === '') {
          throw badParameter('reason', 'required: say why (it goes into the audit log)');
        }
        const request: { -readonly [K in keyof QuarantineRequest]: QuarantineRequest[K] } = { reason };
        const namespace = optionalString(body, 'namespace');
        const pod = optionalString(body, 'pod');
        const alertId = optionalString(body, 'alertId');
        if (alertId === undefined && (namespace === undefined || pod === undefined)) {
          throw badParameter(
            namespace === undefined ? 'namespace' : 'pod',
            'give namespace and pod, or alertId',
          );
        }
        if ((namespace === undefined) !== (pod === undefined)) {
          throw badParameter(
            namespace === undefined ? 'namespace' : 'pod',
            'give namespace and pod together',
          );
        }
        if (namespace !== undefined) request.namespace = namespace;
        if (pod !== undefined) request.pod = pod;
        if (alertId !== undefined) request.alertId = alertId;
        const cut = optionalBool(body, 'cutEstablished');
        if (cut !== undefined) request.cutEstablished = cut;
        const freeze = optionalBool(body, 'freeze');
        if (freeze !== undefined) request.freeze = freeze;
        const force = optionalBool(body, 'force');
        if (force !== undefined) request.force = force;
        try {
          const result = await service.start(request, actor);
          return { status: result.created ? 201 : 200, body: result.quarantine };
        } catch (err) {
          throw asApiError(err);
        }
      },
    },
    {
      method: 'POST',
      path: '/api/v1/quarantines/:id/release',
      access: 'responder',
      maxBodyBytes: 64 * 1024,
      async handler(req) {
        const actor = actorOf(req);
        const body = await jsonObject(req);
        for (const k of Object.keys(body)) {
          if (k !== 'reason') throw badParameter(k, 'unknown field; expected reason');
        }
        const reason = optionalString(body, 'reason');
        if (reason === undefined || reason.trim() === '') {
          throw badParameter('reason', 'required: say why (it goes into the audit log)');
        }
        try {
          return { body: await service.release(req.params['id'] as string, reason, actor) };
        } catch (err) {
          throw asApiError(err);
        }
      },
    },
    {
      method: 'GET',
      path: '/api/v1/audit',
      access: 'viewer',
      handler(req) {
        const limit = limitParam(req, MAX_AUDIT_PAGE);
        const beforeText = req.query.get('before');
        let before: number | undefined;
        if (beforeText !== null) {
          before = Number(beforeText);
          if (!/^\d+$/.test(beforeText) || !Number.isSafeInteger(before)) {
            throw badParameter('before', `expected a sequence number, got '${beforeText}'`);
          }
        }
        const quarantineId = req.query.get('quarantine') ?? undefined;
        const page = audit.list({
          ...(limit !== undefined && { limit }),
          ...(before !== undefined && { before }),
          ...(quarantineId !== undefined && quarantineId !== '' && { quarantineId }),
        });
        return { body: page };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/audit/verify',
      access: 'viewer',
      handler() {
        return { body: audit.verify() };
      },
    },
  ];
}

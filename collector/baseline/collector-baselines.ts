/**
 * How the collector sets up its baselines: the profile table in its database, the service on
 * its ingest, limits from its configuration (`baselines:` keys, and what a link message can
 * carry), and the API routes.
 */
import type { Registry } from 'prom-client';
import type { Logger } from '../../core/log.js';
import type { Route } from '../api/router.js';
import type { CollectorConfig } from '../config.js';
import type { AuditEntry } from '../response/audit-log.js';
import type { CollectorDatabase } from '../store/database.js';
import { createBaselineService, type BaselineLink, type BaselineService } from './baseline-service.js';
import { profileRoutes } from './profile-routes.js';
import { openProfileStore } from './profile-store.js';

/** Room left in a link message for everything besides the profile bytes. */
const MESSAGE_OVERHEAD_BYTES = 16 * 1024;

/** The collector's baselines: the service and its routes. */
export interface CollectorBaselines {
  readonly service: BaselineService;
  readonly routes: readonly Route[];
}

/**
 * Opens the profile store on `database` and starts the baseline service on `link`. Stop the
 * service before closing the database (it writes what is pending).
 */
export function startCollectorBaselines(options: {
  readonly config: CollectorConfig;
  readonly database: CollectorDatabase;
  readonly link: BaselineLink;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly now: () => number;
  /** Records operators' profile edits in the audit log (may be bound after this returns). */
  readonly audit?: (entry: AuditEntry) => void;
}): CollectorBaselines {
  const { config } = options;
  const service = createBaselineService({
    store: openProfileStore({ database: options.database }),
    link: options.link,
    registry: options.registry,
    logger: options.logger,
    now: options.now,
    limits: {
      maxProfiles: config.baselines.max_profiles,
      maxProfilesOnConnect: config.baselines.max_profiles_on_connect,
      pushIntervalMs: Math.max(1, Math.round(config.baselines.push_interval)),
      maxProfileBytes: Math.max(1, config.grpc.max_message_bytes - MESSAGE_OVERHEAD_BYTES),
      maxDeltaBytes: Math.max(1, config.grpc.max_message_bytes - MESSAGE_OVERHEAD_BYTES),
      maxIdleMs: Math.round(config.baselines.max_idle),
    },
  });
  return {
    service,
    routes: profileRoutes(service, { ...(options.audit !== undefined && { audit: options.audit }) }),
  };
}

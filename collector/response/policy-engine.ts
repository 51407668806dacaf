/**
 * Response policies at work: every newly stored alert is matched against the configured
 * policies, in order; a matching policy quarantines the alert's pod (or only notifies), unless
 * it is a dry run, over its rate limit, or the pod is in a never-touch namespace. Each decision
 * is counted, and recorded in the audit log (repetitive refusals at most once per policy and
 * rate window, with the number suppressed).
 *
 * What a policy does is its action (response-actions.ts). Quarantines run in the background, at
 * most `maxInFlight` at once (more are counted as `busy` and dropped: the rate limits make that
 * rare).
 */
import type { Alert } from '../../core/alert.js';
import type { Logger } from '../../core/log.js';
import { parsePriority, priorityAtLeast } from '../../core/priority.js';
import type { AuditLog } from './audit-log.js';
import { podOfAlert, type QuarantineService } from './quarantine-service.js';
import { findResponseAction, type ActionContext, type ResponseAction } from './response-actions.js';
import type { PolicyMatch, ResponsePolicy } from './response-config.js';
import type { PolicyOutcome, ResponseMetrics } from './response-metrics.js';

/** Fields that alerts also carry in their workload, when the output did not name them. */
const WORKLOAD_FIELDS: Readonly<Record<string, (w: NonNullable<Alert['workload']>) => string | undefined>> = {
  'k8s.ns.name': (w) => w.namespace,
  'k8s.pod.name': (w) => w.pod,
  'container.name': (w) => w.container,
  'container.image': (w) => w.image,
  'container.image.repository': (w) => w.image?.replace(/(@sha256:[0-9a-f]+|:[^/:]+)$/, ''),
};

/** The value of `field` in an alert, as text: its output fields, else its workload. */
export function alertFieldValue(alert: Alert, field: string): string | undefined {
  const v = alert.output_fields[field];
  if (v !== undefined && v !== null) return typeof v === 'string' ? v : JSON.stringify(v);
  const fromWorkload = WORKLOAD_FIELDS[field];
  return alert.workload !== undefined && fromWorkload !== undefined
    ? fromWorkload(alert.workload)
    : undefined;
}

/**
 * Whether `alert` satisfies every criterion of `match`.
 *
 * @example matchesPolicy({ priority: Priority.Critical, tags: ['container'] }, alert)
 */
export function matchesPolicy(match: PolicyMatch, alert: Alert): boolean {
  if (match.rules !== undefined && !match.rules.includes(alert.rule)) return false;
  if (match.priority !== undefined) {
    const p = parsePriority(alert.priority);
    if (p === undefined || !priorityAtLeast(p, match.priority)) return false;
  }
  if (match.tags !== undefined && !match.tags.every((t) => alert.tags.includes(t))) return false;
  if (match.kind !== undefined && alert.kind !== match.kind) return false;
  if (match.minScore !== undefined && (alert.score === undefined || !(alert.score >= match.minScore)))
    return false;
  if (match.outputFields !== undefined) {
    for (const [field, values] of Object.entries(match.outputFields)) {
      const v = alertFieldValue(alert, field);
      if (v === undefined || !values.includes(v)) return false;
    }
  }
  return true;
}

/**
 * At most `max` takes in any window of `perMs`: a sliding window over the times of the last
 * `max` takes (so it holds at most `max` numbers).
 */
export class RateLimiter {
  private readonly times: number[] = [];
  constructor(
    private readonly max: number,
    private readonly perMs: number,
  ) {}

  /** Takes one if the window allows; false when over the limit. */
  tryTake(nowMs: number): boolean {
    while (this.times.length > 0 && nowMs - (this.times[0] as number) >= this.perMs) this.times.shift();
    if (this.times.length >= this.max) return false;
    this.times.push(nowMs);
    return true;
  }
}

/** What the engine is built from. */
export interface PolicyEngineOptions {
  readonly policies: readonly ResponsePolicy[];
  readonly service: QuarantineService;
  readonly audit: AuditLog;
  readonly metrics: ResponseMetrics;
  readonly logger: Logger;
  readonly now: () => number;
  /** Most policy actions running in the background at once (default 64; more are dropped as `busy`). */
  readonly maxInFlight?: number;
}

/** The running policies. */
export interface PolicyEngine {
  /** Newly stored alerts; returns at once (quarantines run in the background). Never throws. */
  onAlerts(alerts: readonly Alert[]): void;
  /** Resolves when no policy quarantine is running. */
  idle(): Promise<void>;
}

/** Creates the policy engine; with no policies it does nothing. */
export function createPolicyEngine(options: PolicyEngineOptions): PolicyEngine {
  const { policies, service, audit, metrics, now } = options;
  const log = options.logger.child({ component: 'response' });
  const maxInFlight = options.maxInFlight ?? 64;
  const limiters = new Map(
    policies.map((p) => [p.name, new RateLimiter(p.rateLimit.max, p.rateLimit.perMs)]),
  );
  const running = new Map<string, Promise<void>>();
  // Refusals recorded per policy and action: the window they were last recorded in, and how many since.
  const quiet = new Map<string, { since: number; suppressed: number }>();

  const recordDecision = (
    policy: ResponsePolicy,
    alert: Alert,
    pod: { namespace: string; pod: string } | undefined,
    action: string,
    extra: Record<string, unknown> = {},
    throttle = false,
  ): void => {
    let suppressed = 0;
    if (throttle) {
      const key = `${policy.name}|${action}`;
      const t = now();
      const q = quiet.get(key);
      if (q !== undefined && t - q.since < policy.rateLimit.perMs) {
        q.suppressed++;
        return;
      }
      suppressed = q?.suppressed ?? 0;
      quiet.set(key, { since: t, suppressed: 0 });
    }
    audit.append({
      actor: `policy:${policy.name}`,
      action,
      alertId: alert.id,
      namespace: pod?.namespace ?? null,
      pod: pod?.pod ?? null,
      reason: `alert "${alert.rule}" (${alert.priority})`,
      detail: {
        policy: policy.name,
        rule: alert.rule,
        priority: alert.priority,
        kind: alert.kind,
        ...(alert.score !== undefined && { score: alert.score }),
        node: alert.node,
        action: policy.action,
        ...(suppressed > 0 && { suppressedSinceLast: suppressed }),
        ...extra,
      },
    });
  };

  const context = (
    policy: ResponsePolicy,
    alert: Alert,
    pod: { namespace: string; pod: string },
  ): ActionContext => ({
    policy,
    alert,
    pod,
    service,
    log,
    record: (action, extra) => recordDecision(policy, alert, pod, action, extra),
    running: (key) => running.has(key),
    background(key, work) {
      if (running.size >= maxInFlight || running.has(key)) return false;
      const task = work()
        .then((outcome) => metrics.policyOutcome(policy.name, outcome))
        .catch((err: unknown) => {
          metrics.policyOutcome(policy.name, 'failed');
          log.error('a response action failed', { policy: policy.name, err });
        })
        .finally(() => running.delete(key));
      running.set(key, task);
      return true;
    },
  });

  const decide = (policy: ResponsePolicy, alert: Alert): PolicyOutcome | 'background' => {
    const pod = podOfAlert(alert);
    if (pod === undefined) return 'no_pod';
    if (service.isNeverNamespace(pod.namespace)) {
      recordDecision(policy, alert, pod, 'policy.never_namespace', {}, true);
      log.warn('a response policy matched an alert in a never-touch namespace; nothing done', {
        policy: policy.name,
        rule: alert.rule,
        namespace: pod.namespace,
        pod: pod.pod,
      });
      return 'never_namespace';
    }
    // The configuration only names registered actions.
    const action = findResponseAction(policy.action) as ResponseAction;
    const ctx = context(policy, alert, pod);
    const settled = action.settled?.(ctx);
    if (settled !== undefined) return settled;
    if (!(limiters.get(policy.name) as RateLimiter).tryTake(now())) {
      recordDecision(
        policy,
        alert,
        pod,
        'policy.rate_limited',
        { max: policy.rateLimit.max, perMs: policy.rateLimit.perMs },
        true,
      );
      return 'rate_limited';
    }
    if (policy.dryRun) {
      recordDecision(policy, alert, pod, 'policy.dry_run', {
        wouldDo: policy.action,
        cutEstablished: policy.cutEstablished,
        freeze: policy.freeze,
      });
      log.info('response policy dry run', {
        policy: policy.name,
        rule: alert.rule,
        namespace: pod.namespace,
        pod: pod.pod,
        wouldDo: policy.action,
      });
      return 'dry_run';
    }
    return action.run(ctx);
  };

  return {
    onAlerts(alerts) {
      if (policies.length === 0) return;
      for (const alert of alerts) {
        for (const policy of policies) {
          try {
            if (!matchesPolicy(policy.match, alert)) continue;
            metrics.policyMatched(policy.name);
            const outcome = decide(policy, alert);
            // Background work counts its outcome when it settles.
            if (outcome !== 'background') metrics.policyOutcome(policy.name, outcome);
          } catch (err) {
            metrics.policyOutcome(policy.name, 'failed');
            log.error('a response policy failed', { policy: policy.name, rule: alert.rule, err });
          }
        }
      }
    },
    async idle() {
      while (running.size > 0) await Promise.all([...running.values()]);
    },
  };
}

/**
 * What a response policy can do when it matches an alert: one {@link ResponseAction} per kind,
 * each describing itself, all listed in {@link responseActions} (a policy's `action:` names one).
 * The policy engine does what every action shares — the never-touch namespaces, the rate limit,
 * dry runs, the audit trail — and hands the rest to the action.
 *
 * Adding an action is one object here and one line in the list.
 */
import type { Alert } from '../../core/alert.js';
import type { Logger } from '../../core/log.js';
import { QuarantineRequestError, type QuarantineService } from './quarantine-service.js';
import type { ResponsePolicy } from './response-config.js';
import type { PolicyOutcome } from './response-metrics.js';

/** What an action is given when its policy matched an alert about a pod. */
export interface ActionContext {
  readonly policy: ResponsePolicy;
  readonly alert: Alert;
  readonly pod: { readonly namespace: string; readonly pod: string };
  readonly service: QuarantineService;
  readonly log: Logger;
  /** Records a step in the audit log as the policy (`policy:<name>`), with the alert. */
  record(action: string, extra?: Record<string, unknown>): void;
  /**
   * Runs `work` in the background under `key` (a pod), bounded by the engine; its outcome is
   * counted when it settles. False when too many run already.
   */
  background(key: string, work: () => Promise<PolicyOutcome>): boolean;
  /** Whether background work under `key` is running. */
  running(key: string): boolean;
}

/** One kind of action. */
export interface ResponseAction {
  /** What a policy's `action:` says. */
  readonly name: string;
  /** One line for the documentation. */
  readonly description: string;
  /**
   * Checked before the rate limit: an outcome when there is nothing left to do (the pod is
   * already quarantined), so that repeats do not use up the policy's budget.
   */
  settled?(ctx: ActionContext): PolicyOutcome | undefined;
  /** Does it: the outcome, or `background` when it runs on (see {@link ActionContext.background}). */
  run(ctx: ActionContext): PolicyOutcome | 'background';
}

const podKey = (ctx: ActionContext): string => `${ctx.pod.namespace}/${ctx.pod.pod}`;

/** `quarantine`: cut the alert's pod off, on every layer (the quarantine service). */
export const quarantineAction: ResponseAction = {
  name: 'quarantine',
  description:
    "quarantine the alert's pod: Kubernetes label + deny-all NetworkPolicy, and the agent's nftables cut",
  settled(ctx) {
    const open = ctx.service.openFor(ctx.pod.namespace, ctx.pod.pod);
    return ctx.running(podKey(ctx)) || open?.state === 'active' ? 'already_quarantined' : undefined;
  },
  run(ctx) {
    const { policy, alert, pod } = ctx;
    const started = ctx.background(podKey(ctx), async () => {
      // Runs at once (up to the first await), so the audit log has it before the quarantine's steps.
      ctx.record('policy.matched');
      try {
        const r = await ctx.service.start(
          {
            namespace: pod.namespace,
            pod: pod.pod,
            alertId: alert.id,
            reason: `policy ${policy.name}: alert "${alert.rule}" (${alert.priority})`,
            cutEstablished: policy.cutEstablished,
            freeze: policy.freeze,
          },
          { kind: 'policy', name: policy.name },
        );
        return r.created ? 'quarantined' : 'already_quarantined';
      } catch (err) {
        ctx.log.error('a response policy could not quarantine', {
          policy: policy.name,
          namespace: pod.namespace,
          pod: pod.pod,
          err: err instanceof QuarantineRequestError ? err.message : err,
        });
        return 'failed';
      }
    });
    if (!started) {
      ctx.log.warn('too many policy quarantines running; this one is dropped', {
        policy: policy.name,
        namespace: pod.namespace,
        pod: pod.pod,
      });
      return 'busy';
    }
    return 'background';
  },
};

/** `notify`: only say so (log and audit); the alert itself already went to the outputs. */
export const notifyAction: ResponseAction = {
  name: 'notify',
  description: 'record in the audit log and the log that the policy matched; change nothing',
  run(ctx) {
    ctx.record('policy.notified');
    ctx.log.warn('response policy matched (notify only)', {
      policy: ctx.policy.name,
      rule: ctx.alert.rule,
      namespace: ctx.pod.namespace,
      pod: ctx.pod.pod,
    });
    return 'notified';
  },
};

/** Every action, by name. */
export const responseActions: readonly ResponseAction[] = [quarantineAction, notifyAction];

/** The action named `name`, or undefined. */
export function findResponseAction(name: string): ResponseAction | undefined {
  return responseActions.find((a) => a.name === name);
}

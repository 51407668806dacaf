/**
 * Commands to agents, and their results routed back by command id.
 *
 * A command goes to the node's current stream; the promise settles with the agent's
 * CommandResult, or fails with a {@link CommandDeliveryError} when no answer can come: the node
 * is not connected, the stream ended first (the command may or may not have been applied —
 * resend it with the same id, commands are idempotent), the deadline passed, or too many
 * commands are waiting. Pending commands are bounded; their timers are unref()ed.
 */
import type { Command, CommandResult } from '../../proto/link-messages.js';

/** Why a command got no answer. */
export type CommandDeliveryFailure =
  'not-connected' | 'disconnected' | 'timeout' | 'busy' | 'duplicate-id' | 'closed';

/** A command that got no answer from the agent; `reason` says why. */
export class CommandDeliveryError extends Error {
  override readonly name = 'CommandDeliveryError';
  constructor(
    message: string,
    readonly node: string,
    readonly commandId: string,
    readonly reason: CommandDeliveryFailure,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Where the router sends a command: the node's current stream, if it has one. */
export type CommandSink = (node: string, command: Command) => boolean;

interface Pending {
  readonly node: string;
  readonly resolve: (result: CommandResult) => void;
  readonly reject: (err: CommandDeliveryError) => void;
  readonly timer: NodeJS.Timeout;
}

/** Outcome labels for the metric: the agent's outcome, or the delivery failure. */
export type CommandMetricOutcome = CommandResult['outcome'] | CommandDeliveryFailure;

/** Tracks commands in flight. */
export class CommandRouter {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly sink: CommandSink,
    private readonly maxPending: number,
    private readonly record: (outcome: CommandMetricOutcome) => void = () => undefined,
  ) {}

  /** Commands awaiting an answer. */
  get size(): number {
    return this.pending.size;
  }

  /** Sends `command` to `node` and waits for its result, at most `timeoutMs`. */
  send(node: string, command: Command, timeoutMs: number): Promise<CommandResult> {
    const fail = (reason: CommandDeliveryFailure, message: string): Promise<CommandResult> => {
      this.record(reason);
      return Promise.reject(new CommandDeliveryError(message, node, command.id, reason));
    };
    if (command.id === '') return fail('duplicate-id', 'a command needs an id');
    if (this.pending.has(command.id)) {
      return fail('duplicate-id', `command ${command.id} is already waiting for an answer`);
    }
    if (this.pending.size >= this.maxPending) {
      return fail('busy', `${this.pending.size} commands are waiting for answers already; try again later`);
    }
    return new Promise<CommandResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(
          command.id,
          'timeout',
          `node ${node} did not answer command ${command.id} within ${timeoutMs} ms`,
        );
      }, timeoutMs);
      timer.unref();
      this.pending.set(command.id, { node, resolve, reject, timer });
      if (!this.sink(node, command)) {
        this.settle(command.id, 'not-connected', `node ${node} has no agent connected`);
      }
    });
  }

  /**
   * Routes an agent's result to the waiting command. Returns false when nothing waits for it
   * (it timed out, or the id is unknown) or it came from another node than the command went to.
   */
  resolve(node: string, result: CommandResult): boolean {
    const entry = this.pending.get(result.commandId);
    if (entry === undefined || entry.node !== node) return false;
    clearTimeout(entry.timer);
    this.pending.delete(result.commandId);
    this.record(result.outcome);
    entry.resolve(result);
    return true;
  }

  /** Fails every command waiting on `node`: its stream ended. */
  disconnected(node: string): void {
    for (const [id, entry] of this.pending) {
      if (entry.node === node) {
        this.settle(id, 'disconnected', `the stream of node ${node} ended before it answered command ${id}`);
      }
    }
  }

  /** Fails every waiting command: the server is closing. */
  close(): void {
    for (const id of [...this.pending.keys()]) this.settle(id, 'closed', `the collector is shutting down`);
  }

  private settle(id: string, reason: CommandDeliveryFailure, message: string): void {
    const entry = this.pending.get(id);
    if (entry === undefined) return;
    clearTimeout(entry.timer);
    this.pending.delete(id);
    this.record(reason);
    entry.reject(new CommandDeliveryError(message, entry.node, id, reason));
  }
}

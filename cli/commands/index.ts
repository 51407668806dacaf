/**
 * The registry of `vigil` subcommands, in the order `vigil --help` lists them.
 */
import type { Command } from '../command.js';
import { agentCommand } from './agent.js';
import { certsCommand } from './certs.js';
import { collectorCommand } from './collector.js';
import { tokensCommand } from './tokens.js';
import { quarantineCommand, quarantinesCommand, releaseCommand } from './quarantine.js';
import { auditCommand } from './audit.js';
import { upCommand } from './up.js';
import { filterCommand } from './filter.js';
import { replayCommand } from './replay.js';
import { rulesCommand } from './rules.js';
import { baselineCommand } from './baseline.js';

/** Every subcommand. */
export const commands: readonly Command[] = [
  upCommand,
  agentCommand,
  collectorCommand,
  certsCommand,
  tokensCommand,
  quarantineCommand,
  releaseCommand,
  quarantinesCommand,
  auditCommand,
  rulesCommand,
  filterCommand,
  replayCommand,
  baselineCommand,
];

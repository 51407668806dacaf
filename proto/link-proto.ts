/**
 * Loads the wire contract, `vigil/v1/link.proto`, with protobufjs at run time: the `.proto` file
 * is the single source of truth, read from beside this module (the build copies it next to the
 * compiled JavaScript). Parsed once, on first use.
 *
 * Only the converter (`link-codec.ts`) and the service definition use what this returns.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** The package of the contract, as it appears in type names and method paths. */
export const LINK_PACKAGE = 'vigil.v1';

/** The path of `link.proto`, beside this module. */
export const LINK_PROTO_PATH: string = fileURLToPath(new URL('./vigil/v1/link.proto', import.meta.url));

/** The reflection types the link needs. */
export interface LinkTypes {
  readonly root: protobuf.Root;
  readonly agentMessage: protobuf.Type;
  readonly collectorMessage: protobuf.Type;
  readonly service: protobuf.Service;
}

let types: LinkTypes | undefined;

/**
 * Parses `link.proto` (once) and resolves its types. Throws, naming the file, when it is
 * missing or does not parse: a broken install, not something to recover from.
 */
export function linkTypes(): LinkTypes {
  if (types !== undefined) return types;
  let text: string;
  try {
    text = readFileSync(LINK_PROTO_PATH, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the link contract at ${LINK_PROTO_PATH}`, { cause: err });
  }
  let root: protobuf.Root;
  try {
    // keepCase false: fields are camelCase on the JavaScript side (`batchId` for `batch_id`).
    root = protobuf.parse(text, { keepCase: false }).root;
    root.resolveAll();
  } catch (err) {
    throw new Error(`the link contract at ${LINK_PROTO_PATH} does not parse`, { cause: err });
  }
  types = {
    root,
    agentMessage: root.lookupType(`${LINK_PACKAGE}.AgentMessage`),
    collectorMessage: root.lookupType(`${LINK_PACKAGE}.CollectorMessage`),
    service: root.lookupService(`${LINK_PACKAGE}.AgentLink`),
  };
  return types;
}

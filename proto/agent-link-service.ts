/**
 * The `vigil.v1.AgentLink` service as a @grpc/grpc-js service definition, with the converter
 * (`link-codec.ts`) as its serializers: streams carry the plain values of `link-messages.ts`,
 * never protobuf objects.
 *
 * The request side also accepts an already encoded message (a Buffer from
 * {@link encodeAgentMessage}): the shipper encodes a batch once, to check its size against the
 * collector's limit, and writes those bytes.
 */
import type { ServerMethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import {
  decodeAgentMessage,
  decodeCollectorMessage,
  encodeAgentMessage,
  encodeCollectorMessage,
} from './link-codec.js';
import type {
  AgentMessage,
  CollectorMessage,
  ReceivedAgentMessage,
  ReceivedCollectorMessage,
} from './link-messages.js';
import { LINK_PACKAGE, linkTypes } from './link-proto.js';

/** The method path of `AgentLink.Connect`. */
export const AGENT_LINK_CONNECT_PATH = `/${LINK_PACKAGE}.AgentLink/Connect`;

/** What a writer of the agent side may put on the stream: a message, or its encoding. */
export type OutgoingAgentMessage = AgentMessage | Buffer;

/**
 * `AgentLink.Connect`: the agent's bidirectional session. Each side's types differ (the agent
 * writes {@link OutgoingAgentMessage}s and reads what the collector sent, decoded; the collector
 * the reverse), which grpc-js's `MethodDefinition` cannot say, hence the two halves spelled out.
 */
export interface ConnectMethod extends ServerMethodDefinition<ReceivedAgentMessage, CollectorMessage> {
  readonly requestSerialize: (message: OutgoingAgentMessage) => Buffer;
  readonly responseDeserialize: (bytes: Buffer) => ReceivedCollectorMessage;
}

/** The service definition, for `server.addService` and `client.makeBidiStreamRequest`. */
export interface AgentLinkService extends ServiceDefinition {
  readonly Connect: ConnectMethod;
}

/**
 * The service definition of `vigil.v1.AgentLink`.
 *
 * @example
 * server.addService(agentLinkService(), { Connect: (call) => ... });
 * const m = agentLinkService().Connect;
 * const call = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize);
 */
export function agentLinkService(): AgentLinkService {
  // The definition below is written by hand; hold it to the contract it claims to implement.
  const method = linkTypes().service.methods['Connect'];
  if (method?.requestStream !== true || method.responseStream !== true) {
    throw new Error('link.proto: AgentLink.Connect is missing or is not a bidirectional stream');
  }
  return {
    Connect: {
      path: AGENT_LINK_CONNECT_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: (message: OutgoingAgentMessage) =>
        Buffer.isBuffer(message) ? message : encodeAgentMessage(message),
      requestDeserialize: decodeAgentMessage,
      responseSerialize: encodeCollectorMessage,
      responseDeserialize: decodeCollectorMessage,
      originalName: 'connect',
    },
  };
}

/**
 * The CRI runtime service as a grpc-js service definition, with protobufjs doing the encoding.
 *
 * One definition serves both sides: the agent's client dials containerd or CRI-O with it, and
 * tests stand up an in-process runtime with it. Messages cross as plain objects in the shapes of
 * `cri-messages.ts`.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { RUNTIME_SERVICE_NAME, runtimeService } from './runtime-v1-proto.js';

/** The RPC names of the subset, as they appear in method paths. */
export type RuntimeMethodName =
  | 'Version'
  | 'RunPodSandbox'
  | 'StopPodSandbox'
  | 'RemovePodSandbox'
  | 'PodSandboxStatus'
  | 'ListPodSandbox'
  | 'CreateContainer'
  | 'StartContainer'
  | 'StopContainer'
  | 'RemoveContainer'
  | 'ListContainers'
  | 'ContainerStatus'
  | 'ExecSync';

// How decoded messages look: every field present, enums by name, int64 exact, bytes as Buffer.
const decodeOptions: protobuf.IConversionOptions = {
  longs: BigInt,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
};

function encoder(type: protobuf.Type): (value: object) => Buffer {
  return (value) => {
    const bytes = type.encode(type.fromObject(value)).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function decoder(type: protobuf.Type): (bytes: Buffer) => object {
  return (bytes) => type.toObject(type.decode(bytes), decodeOptions);
}

let definition: Record<RuntimeMethodName, MethodDefinition<object, object>> | undefined;

/**
 * The service definition: `path`, serializers and deserializers for every method of the subset.
 * Pass it to `new grpc.Server().addService(...)`, or use its methods with `Client#makeUnaryRequest`.
 */
export function runtimeServiceDefinition(): ServiceDefinition &
  Record<RuntimeMethodName, MethodDefinition<object, object>> {
  if (definition === undefined) {
    const service = runtimeService();
    const methods: Partial<Record<RuntimeMethodName, MethodDefinition<object, object>>> = {};
    for (const method of service.methodsArray) {
      method.resolve();
      const request = method.resolvedRequestType;
      const response = method.resolvedResponseType;
      if (request === null || response === null) {
        throw new Error(`CRI definition: method ${method.name} has unresolved message types`);
      }
      methods[method.name as RuntimeMethodName] = {
        path: `/${RUNTIME_SERVICE_NAME}/${method.name}`,
        requestStream: false,
        responseStream: false,
        requestSerialize: encoder(request),
        requestDeserialize: decoder(request),
        responseSerialize: encoder(response),
        responseDeserialize: decoder(response),
        originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
      };
    }
    definition = methods as Record<RuntimeMethodName, MethodDefinition<object, object>>;
  }
  return definition;
}

/**
 * The Kubernetes layer of quarantine: a small REST client ({@link createKubeClient}) and the
 * label + deny-all NetworkPolicy layer on top of it ({@link createKubeQuarantineLayer}).
 */
export {
  createKubeClient,
  KubeApiError,
  KubeTransportError,
  SERVICE_ACCOUNT_DIR,
  type KubeClient,
  type KubeClientOptions,
  type KubeConnection,
  type KubeRequest,
  type KubeStatus,
} from './kube-client.js';
export { KubeconfigError, loadKubeconfig, parseKubeconfig, type KubeconfigTarget } from './kubeconfig.js';
export {
  createKubeQuarantineLayer,
  MAX_CONFLICT_RETRIES,
  MAX_REASON_ANNOTATION_CHARS,
  QUARANTINE_LABEL,
  QUARANTINE_POLICY_NAME,
  QUARANTINE_REASON_ANNOTATION,
  quarantinePolicy,
  reasonAnnotation,
  type KubeLayerResult,
  type KubePod,
  type KubeQuarantineLayer,
  type KubeQuarantineLayerOptions,
  type KubeQuarantineParams,
  type KubeReleaseParams,
} from './quarantine-layer.js';

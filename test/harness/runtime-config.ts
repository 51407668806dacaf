/**
 * Where one node-in-a-box instance keeps everything, and the containerd and CNI configuration
 * that points the runtime there.
 *
 * Each instance has a name; the name fixes its directory, Unix sockets, cgroup root, CNI network,
 * bridge and /24, so that a crashed run can be found and cleaned up by the next run of the same
 * name, and differently named instances can run side by side.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

/** Everything an instance's set-up and teardown need to know about where it lives. */
export interface InstanceLayout {
  /** The instance's name: 1 to 10 lowercase letters or digits. */
  readonly name: string;
  /** The directory holding all of the instance's files (root, state, sockets, config, logs). */
  readonly baseDir: string;
  readonly configPath: string;
  readonly rootDir: string;
  readonly stateDir: string;
  readonly runcRoot: string;
  readonly cniConfDir: string;
  readonly ipamDir: string;
  readonly podLogDir: string;
  readonly optDir: string;
  /** containerd's gRPC socket, which also serves CRI. */
  readonly socket: string;
  readonly ttrpcSocket: string;
  readonly logPath: string;
  /** Holds the pid of the test process that owns the instance. */
  readonly ownerPidPath: string;
  readonly containerdPidPath: string;
  /** The cgroup (relative to each hierarchy's root) that every pod of the instance goes under. */
  readonly cgroupRoot: string;
  /** The CNI network's name; also the prefix of its entries in the CNI result cache. */
  readonly networkName: string;
  readonly bridge: string;
  /** The pods' /24, e.g. `10.213.57.0/24`; its `.1` is the bridge's address. */
  readonly subnet: string;
  readonly gateway: string;
}

/** Instance names: short enough for an interface name (`vgl-` + name fits IFNAMSIZ). */
export const INSTANCE_NAME = /^[a-z0-9]{1,10}$/;

/** Every instance's directory is this prefix followed by its name. */
export const INSTANCE_DIR_PREFIX = '/tmp/vigil-niab-';

/**
 * Lays out the instance `name` under `/tmp/vigil-niab-<name>`. The /24 is picked from
 * 10.213.0.0/16 by hashing the name, so that two names rarely collide; set-up checks for a
 * collision with the host's routes anyway.
 */
export function instanceLayout(name: string): InstanceLayout {
  if (!INSTANCE_NAME.test(name))
    throw new Error(`node-in-a-box: instance name must match ${String(INSTANCE_NAME)}: ${name}`);
  const base = INSTANCE_DIR_PREFIX + name;
  const octet = 1 + (createHash('sha256').update(name).digest().readUInt16BE(0) % 254);
  return {
    name,
    baseDir: base,
    configPath: join(base, 'containerd.toml'),
    rootDir: join(base, 'root'),
    stateDir: join(base, 'state'),
    runcRoot: join(base, 'runc'),
    cniConfDir: join(base, 'cni'),
    ipamDir: join(base, 'ipam'),
    podLogDir: join(base, 'pods'),
    optDir: join(base, 'opt'),
    socket: join(base, 'containerd.sock'),
    ttrpcSocket: join(base, 'containerd.ttrpc.sock'),
    logPath: join(base, 'containerd.log'),
    ownerPidPath: join(base, 'owner.pid'),
    containerdPidPath: join(base, 'containerd.pid'),
    cgroupRoot: `/vigil-niab-${name}`,
    networkName: `vigil-niab-${name}`,
    bridge: `vgl-${name}`,
    subnet: `10.213.${octet}.0/24`,
    gateway: `10.213.${octet}.1`,
  };
}

// TOML basic strings are JSON-compatible for the paths we write.
const q = (s: string): string => JSON.stringify(s);

/**
 * containerd's config: every path inside the instance's directory, the CRI plugin set up for this
 * machine (see the settings below), and `sandboxImage` as the pause image.
 */
export function containerdConfig(layout: InstanceLayout, sandboxImage: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = ${q(layout.rootDir)}
state = ${q(layout.stateDir)}
# Fail at start-up, not at the first call, when the CRI plugin cannot load.
required_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = ${q(layout.socket)}
[ttrpc]
  address = ${q(layout.ttrpcSocket)}
[debug]
  level = "info"

[plugins]
  # Its default is /opt/containerd, outside the instance.
  [plugins."io.containerd.internal.v1.opt"]
    path = ${q(layout.optDir)}
  [${cri}]
    sandbox_image = ${q(sandboxImage)}
    # The bounding set here lacks CAP_SYS_RESOURCE: without this every RunPodSandbox fails.
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    disable_apparmor = true
    enable_selinux = false
    # A random port, so that instances never compete for one.
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    [${cri}.containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [${cri}.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [${cri}.containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = ${q(layout.runcRoot)}
    [${cri}.cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = ${q(layout.cniConfDir)}
      max_conf_num = 1
`;
}

/**
 * The CNI network: the instance's own bridge (made by the harness, with the /24's `.1`), host-local
 * addresses kept in the instance's directory, and no routes and no masquerading, so pods reach
 * the host and each other and nothing else.
 */
export function cniConflist(layout: InstanceLayout): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: layout.networkName,
      plugins: [
        {
          type: 'bridge',
          bridge: layout.bridge,
          // The harness makes the bridge with the gateway address: gateway mode would also switch
          // on net.ipv4.ip_forward machine-wide.
          isGateway: false,
          ipMasq: false,
          hairpinMode: false,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: layout.subnet, gateway: layout.gateway }]],
            dataDir: layout.ipamDir,
          },
        },
        { type: 'loopback' },
      ],
    },
    null,
    2,
  );
}

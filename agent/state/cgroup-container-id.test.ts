import assert from 'node:assert/strict';
import { containerIdFromCgroup, containerIdFromCgroupPath } from './cgroup-container-id.js';

const ID = '3b8e0c1f9d2a4e5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d';
const OTHER = 'ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100';
const POD = 'pod5c1b0a7e-2f4d-4c3b-9a8e-1d2c3b4a5f60';

const v1 = (path: string): string =>
  ['12:pids', '11:memory', '10:cpu,cpuacct', '9:devices', '1:name=systemd']
    .map((c) => `${c}:${path}`)
    .join('\n') + '\n';

const cases: readonly { readonly name: string; readonly text: string; readonly want: string | undefined }[] =
  [
    // containerd
    { name: 'containerd, cgroupfs, v1', text: v1(`/kubepods/besteffort/${POD}/${ID}`), want: ID },
    { name: 'containerd, cgroupfs, v2', text: `0::/kubepods/burstable/${POD}/${ID}\n`, want: ID },
    { name: 'containerd, guaranteed QoS (no class dir)', text: `0::/kubepods/${POD}/${ID}\n`, want: ID },
    {
      name: 'containerd, systemd driver, v2',
      text: `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod5c1b0a7e_2f4d.slice/cri-containerd-${ID}.scope\n`,
      want: ID,
    },
    {
      name: 'containerd, systemd driver, v1',
      text: v1(
        `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-${ID}.scope`,
      ),
      want: ID,
    },
    // CRI-O
    {
      name: 'CRI-O, systemd driver',
      text: `0::/kubepods.slice/kubepods-pod1.slice/crio-${ID}.scope\n`,
      want: ID,
    },
    { name: 'CRI-O, cgroupfs driver', text: `0::/kubepods/besteffort/${POD}/crio-${ID}\n`, want: ID },
    {
      name: 'CRI-O conmon is not the container',
      text: `0::/kubepods.slice/kubepods-pod1.slice/crio-conmon-${ID}.scope\n`,
      want: undefined,
    },
    // Docker
    { name: 'Docker, systemd driver', text: `0::/system.slice/docker-${ID}.scope\n`, want: ID },
    { name: 'Docker, cgroupfs driver, v1', text: v1(`/docker/${ID}`), want: ID },
    { name: 'Docker in Docker: the innermost', text: `0::/docker/${OTHER}/docker/${ID}\n`, want: ID },
    // Podman
    { name: 'Podman, systemd', text: `0::/machine.slice/libpod-${ID}.scope\n`, want: ID },
    {
      name: 'Podman, sub-cgroup inside the scope',
      text: `0::/machine.slice/libpod-${ID}.scope/container\n`,
      want: ID,
    },
    { name: 'Podman, cgroupfs', text: `0::/libpod_parent/libpod-${ID}\n`, want: ID },
    {
      name: 'Podman conmon is not the container',
      text: `0::/machine.slice/libpod-conmon-${ID}.scope\n`,
      want: undefined,
    },
    // Host processes and malformed input
    { name: 'host process, v2', text: '0::/init.scope\n', want: undefined },
    {
      name: 'host process, user session',
      text: '0::/user.slice/user-1000.slice/session-2.scope\n',
      want: undefined,
    },
    { name: 'host process, v1 root', text: v1('/'), want: undefined },
    {
      name: 'pod-level cgroup is not a container',
      text: `0::/kubepods/besteffort/${POD}\n`,
      want: undefined,
    },
    { name: 'too short to be an id', text: '0::/docker/3b8e0c1f9d2a\n', want: undefined },
    { name: 'uppercase hex is not an id', text: `0::/docker/${ID.toUpperCase()}\n`, want: undefined },
    { name: 'id with a trailing suffix is not an id', text: `0::/docker/${ID}x\n`, want: undefined },
    { name: 'empty text', text: '', want: undefined },
    { name: 'garbage lines', text: 'not a cgroup line\n\n::\n', want: undefined },
    // Mixed hierarchies: the first line that names a container decides.
    {
      name: 'hybrid: v1 controller in a foreign cgroup, container elsewhere',
      text: `4:memory:/process_api/5a49db67\n3:cpu:/kubepods/besteffort/${POD}/${ID}\n0::/\n`,
      want: ID,
    },
    { name: 'CRLF line ends', text: `0::/docker/${ID}\r\n`, want: ID },
    { name: 'path with a colon in it', text: `0::/weird:dir/docker-${ID}.scope\n`, want: ID },
  ];

describe('containerIdFromCgroup', () => {
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(containerIdFromCgroup(c.text), c.want);
    });
  }
});

describe('containerIdFromCgroupPath', () => {
  it('returns the component nearest the leaf', () => {
    assert.equal(containerIdFromCgroupPath(`/docker/${OTHER}/x/${ID}.scope`), ID);
    assert.equal(containerIdFromCgroupPath(`/docker/${OTHER}/init.scope`), OTHER);
  });
});

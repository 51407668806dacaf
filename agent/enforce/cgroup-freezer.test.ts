import assert from 'node:assert/strict';
import { findCgroup2Mount, isPodCgroupName, unifiedCgroupPath } from './cgroup-freezer.js';

describe('cgroup freezer paths', () => {
  it('finds the cgroup2 mount on hybrid and pure v2 machines', () => {
    const hybrid = [
      '30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755',
      '35 30 0:31 / /sys/fs/cgroup/freezer rw,relatime shared:9 - cgroup cgroup rw,freezer',
      '41 30 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
    ].join('\n');
    assert.equal(findCgroup2Mount(hybrid), '/sys/fs/cgroup/unified');
    assert.equal(
      findCgroup2Mount('29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate'),
      '/sys/fs/cgroup',
    );
    assert.equal(
      findCgroup2Mount('29 23 0:26 / /mnt/with\\040space rw - cgroup2 none rw'),
      '/mnt/with space',
    );
    assert.equal(findCgroup2Mount(hybrid.split('\n').slice(0, 2).join('\n')), undefined);
  });

  it('reads the unified path from /proc/PID/cgroup', () => {
    assert.equal(
      unifiedCgroupPath('6:freezer:/a/b\n0::/kubepods/besteffort/podX/abc\n'),
      '/kubepods/besteffort/podX/abc',
    );
    assert.equal(unifiedCgroupPath('6:freezer:/a/b\n'), undefined);
  });

  it('recognises a pod cgroup under the cgroupfs and systemd drivers', () => {
    const uid = '57b35a92-6db4-4ccb-9f17-64d207808bab';
    assert.equal(isPodCgroupName(`pod${uid}`, uid), true);
    assert.equal(isPodCgroupName(`kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`, uid), true);
    assert.equal(isPodCgroupName('podsomething-else', uid), false);
    assert.equal(isPodCgroupName('pod', ''), false);
  });
});

import assert from 'node:assert/strict';
import {
  baseName,
  loginUid,
  numeric,
  plainIp,
  putConnection,
  putContainerId,
  putImage,
  rfc3339ToNanos,
  type Fields,
} from './field-mapping.js';

describe('field mapping helpers', () => {
  it('shortens container ids to 12 characters, keeping only whole ids as full ids', () => {
    const f: Fields = {};
    putContainerId(f, 'containerd://1FB931D2F6E5E4CFDBAF30FDB8E2FDD81320BDB3047DED50120A4F82838209CE');
    assert.equal(f['container.id'], '1fb931d2f6e5');
    assert.equal(f['container.full_id'], '1fb931d2f6e5e4cfdbaf30fdb8e2fdd81320bdb3047ded50120a4f82838209ce');
    const truncated: Fields = {};
    putContainerId(truncated, '1fb931d2f6e5e4cfdbaf30fdb8e2fdd');
    assert.deepEqual(truncated, { 'container.id': '1fb931d2f6e5' });
    const host: Fields = {};
    putContainerId(host, '');
    assert.deepEqual(host, { 'container.id': 'host' });
  });

  it('splits image names into repository, tag and digest', () => {
    const f: Fields = {};
    putImage(f, 'registry.local:5000/team/app:1.4@sha256:abc');
    assert.deepEqual(f, {
      'container.image': 'registry.local:5000/team/app:1.4@sha256:abc',
      'container.image.digest': 'sha256:abc',
      'container.image.tag': '1.4',
      'container.image.repository': 'registry.local:5000/team/app',
    });
    const untagged: Fields = {};
    putImage(untagged, 'registry.local:5000/app');
    assert.equal(untagged['container.image.repository'], 'registry.local:5000/app');
    assert.equal(untagged['container.image.tag'], undefined);
  });

  it('reads RFC 3339 times to nanoseconds, including offsets', () => {
    assert.equal(rfc3339ToNanos('2022-05-11T12:54:45Z'), Date.UTC(2022, 4, 11, 12, 54, 45) * 1e6);
    assert.equal(rfc3339ToNanos('2022-05-11T12:54:45.5Z'), Date.UTC(2022, 4, 11, 12, 54, 45) * 1e6 + 5e8);
    assert.equal(
      rfc3339ToNanos('2022-05-11T14:54:45.000000001+02:00'),
      Date.UTC(2022, 4, 11, 12, 54, 45) * 1e6 + 1,
    );
    assert.equal(rfc3339ToNanos('yesterday'), undefined);
    assert.equal(rfc3339ToNanos(12), undefined);
  });

  it('renders connections the way libsinsp names them', () => {
    const f: Fields = {};
    putConnection(f, { cip: '::ffff:10.1.2.3', cport: 40000, sip: '10.9.9.9', sport: 443, l4proto: 'tcp' });
    assert.deepEqual(f, {
      'fd.cip': '10.1.2.3',
      'fd.cport': 40000,
      'fd.sip': '10.9.9.9',
      'fd.sport': 443,
      'fd.l4proto': 'tcp',
      'fd.typechar': '4',
      'fd.name': '10.1.2.3:40000->10.9.9.9:443',
    });
    const remoteOnly: Fields = {};
    putConnection(remoteOnly, { sip: '2001:db8::1', sport: 53 });
    assert.deepEqual(remoteOnly, { 'fd.sip': '2001:db8::1', 'fd.sport': 53, 'fd.typechar': '6' });
  });

  it('has small readers that refuse the wrong type', () => {
    assert.equal(baseName('/usr/bin/whoami'), 'whoami');
    assert.equal(baseName('whoami'), 'whoami');
    assert.equal(loginUid(4294967295), -1);
    assert.equal(loginUid('1000'), 1000);
    assert.equal(loginUid('x'), undefined);
    assert.equal(numeric('80'), 80);
    assert.equal(numeric('8o'), undefined);
    assert.equal(numeric(Infinity), undefined);
    assert.equal(plainIp('::ffff:1.2.3.4'), '1.2.3.4');
    assert.equal(plainIp('::ffff'), '::ffff');
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCgroup, parseContainerId } from '../../../src/processors/process/cgroup.js';
import { CgroupIndex } from '../../../src/processors/process/cgroup-index.js';

const ID = '3f4b6a1c5e7c8c1f9a4c0c3b0c2a8a8f3f4b6a1c5e7c8c1f9a4c0c3b0c2a8a8f';
const ID2 = 'e0b2f6e4d39a4c0fb8a1c6a1b9b2f7d1e0b2f6e4d39a4c0fb8a1c6a1b9b2f7d1';

test('cgroup v2, systemd driver: docker, containerd, CRI-O, podman', () => {
  assert.equal(parseContainerId(`0::/system.slice/docker-${ID}.scope\n`), ID);
  assert.equal(parseContainerId(`0::/system.slice/crio-${ID}.scope`), ID);
  assert.equal(parseContainerId(`0::/machine.slice/libpod-${ID}.scope/container\n`), ID);
  assert.equal(parseContainerId(`0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope\n`), ID);
  assert.deepEqual(
    parseCgroup(`0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f3c1a6e_5b2d_4c1e_9f0a_1b2c3d4e5f60.slice/cri-containerd-${ID}.scope\n`),
    { containerId: ID, podUid: '0f3c1a6e-5b2d-4c1e-9f0a-1b2c3d4e5f60' },
  );
  assert.deepEqual(parseCgroup(`0::/kubepods.slice/kubepods-pod0f3c1a6e_5b2d_4c1e_9f0a_1b2c3d4e5f60.slice/crio-${ID}.scope`), {
    containerId: ID,
    podUid: '0f3c1a6e-5b2d-4c1e-9f0a-1b2c3d4e5f60',
  });
});

test('cgroup v1 and cgroupfs driver', () => {
  const v1 = [
    `12:pids:/docker/${ID}`,
    `11:memory:/docker/${ID}`,
    `10:cpu,cpuacct:/docker/${ID}`,
    `1:name=systemd:/docker/${ID}`,
    `0::/system.slice/containerd.service`,
  ].join('\n');
  assert.equal(parseContainerId(v1), ID);
  const k8s = [
    `12:memory:/kubepods/besteffort/pod7e1d2c3b-4a5f-6e7d-8c9b-0a1b2c3d4e5f/${ID2}`,
    `11:cpu,cpuacct:/kubepods/besteffort/pod7e1d2c3b-4a5f-6e7d-8c9b-0a1b2c3d4e5f/${ID2}`,
  ].join('\n');
  assert.deepEqual(parseCgroup(k8s), { containerId: ID2, podUid: '7e1d2c3b-4a5f-6e7d-8c9b-0a1b2c3d4e5f' });
  // Guaranteed QoS pods sit right under kubepods.
  assert.deepEqual(parseCgroup(`0::/kubepods/pod7e1d2c3b-4a5f-6e7d-8c9b-0a1b2c3d4e5f/${ID2}`), {
    containerId: ID2,
    podUid: '7e1d2c3b-4a5f-6e7d-8c9b-0a1b2c3d4e5f',
  });
  // A v1 hierarchy with a container next to a v2 line without one.
  assert.equal(parseContainerId(`0::/\n4:devices:/docker/${ID}\n`), ID);
});

test('not in a container: no id', () => {
  assert.deepEqual(parseCgroup('0::/init.scope\n'), {});
  assert.deepEqual(parseCgroup('0::/user.slice/user-1000.slice/session-3.scope\n'), {});
  assert.deepEqual(parseCgroup('0::/system.slice/containerd.service\n'), {});
  assert.deepEqual(parseCgroup('0::/\n'), {});
  assert.deepEqual(parseCgroup(''), {});
  // conmon (CRI-O's monitor) is not the container; 63 hex digits is not an id.
  assert.deepEqual(parseCgroup(`0::/system.slice/crio-conmon-${ID}.scope`), {});
  assert.deepEqual(parseCgroup(`0::/docker/${ID.slice(1)}`), {});
  // A pod slice without a container (the pod's own cgroup): pod uid only.
  assert.deepEqual(parseCgroup('0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f3c1a6e_5b2d_4c1e_9f0a_1b2c3d4e5f60.slice'), {
    podUid: '0f3c1a6e-5b2d-4c1e-9f0a-1b2c3d4e5f60',
  });
});


test('cgroup ids (directory inodes) map to container and pod ids, rescanning when an id is new', () => {
  const root = mkdtempSync(join(tmpdir(), 'tcpotel-cgroup-'));
  const id = 'a'.repeat(64);
  const pod = join(root, 'kubepods.slice', 'kubepods-burstable.slice', 'kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice');
  const container = join(pod, `cri-containerd-${id}.scope`);
  mkdirSync(container, { recursive: true });
  const index = new CgroupIndex(root, 0);
  assert.deepEqual(index.lookup(statSync(container).ino, 0), { containerId: id, podUid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0' });
  assert.deepEqual(index.lookup(statSync(root).ino, 0), {});
  const later = join(root, 'system.slice', `docker-${'b'.repeat(64)}.scope`);
  mkdirSync(later, { recursive: true });
  assert.deepEqual(index.lookup(statSync(later).ino, 1), { containerId: 'b'.repeat(64) });
  assert.deepEqual(index.lookup(123456789, 2), {});
});

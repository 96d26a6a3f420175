/**
 * The host install: `make install DESTDIR=...` into a staging root gives a `tcpotel`
 * command, its config in /etc/tcpotel/ and a systemd unit that `systemd-analyze verify`
 * accepts; the staged tree, run with exactly the unit's capabilities, attaches every
 * program (protocol detection included) and serves exact counts for known traffic.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { prometheusMetricNames } from '../../src/semconv/prometheus.js';
import { TCP_METRICS } from '../../src/semconv/metrics.js';
import { runClient, startServer } from '../support/peer.js';
import { freePort, poll } from '../support/tcpotel.js';

const root = packageRoot();
const stage = mkdtempSync(join(tmpdir(), 'tcpotel-stage-'));
const PREFIX = '/opt/tcpotel-test';
const lib = join(stage, PREFIX, 'lib', 'tcpotel');
const unitFile = join(stage, PREFIX, 'lib', 'systemd', 'system', 'tcpotel.service');
const configFile = join(stage, 'etc', 'tcpotel', 'config.yaml');

before(() => {
  execFileSync('make', ['-s', 'install', `DESTDIR=${stage}`, `PREFIX=${PREFIX}`], { cwd: root, stdio: 'pipe', timeout: 600_000 });
});

/** The unit's settings, key by key (repeated keys joined by a space). */
function unit(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(unitFile, 'utf8').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = out[m[1]!] ? `${out[m[1]!]} ${m[2]}` : m[2]!;
  }
  return out;
}

test('make install DESTDIR= PREFIX=: the command, the code with its production modules only, the config, the unit', () => {
  const cmd = join(stage, PREFIX, 'bin', 'tcpotel');
  accessSync(cmd, constants.X_OK);
  const wrapper = readFileSync(cmd, 'utf8');
  assert.match(wrapper, new RegExp(`^exec ${process.execPath} ${PREFIX}/lib/tcpotel/bin/tcpotel.js "\\$@"$`, 'm'), 'the Node.js it was built with, the installed path');
  for (const f of ['bin/tcpotel.js', 'dist/src/cli/main.js', 'build/Release/tcpotel.node', 'bpf/tcpotel.h', 'package.json', 'pipelines/host.yaml']) assert.ok(existsSync(join(lib, f)), f);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies)) assert.ok(existsSync(join(lib, 'node_modules', dep, 'package.json')), `dependency ${dep}`);
  for (const dev of ['typescript']) assert.ok(!existsSync(join(lib, 'node_modules', dev)), `no devDependency ${dev}`);
  assert.ok(!existsSync(join(lib, 'dist', 'test')), 'no compiled tests');
  assert.equal(readFileSync(configFile, 'utf8'), readFileSync(join(root, 'pipelines', 'host.yaml'), 'utf8'));
  const u = unit();
  assert.equal(u.ExecStart, `${PREFIX}/bin/tcpotel run --config /etc/tcpotel/config.yaml`);
  assert.equal(u.Documentation, `file://${PREFIX}/lib/tcpotel/README.md`);
  assert.equal(u.CapabilityBoundingSet, 'CAP_BPF CAP_PERFMON CAP_NET_ADMIN');
  assert.equal(u.NoNewPrivileges, 'yes');
});

test('a second install keeps an edited config', () => {
  const edited = readFileSync(configFile, 'utf8') + '# edited\n';
  writeFileSync(configFile, edited);
  const out = execFileSync('make', ['-s', 'install', `DESTDIR=${stage}`, `PREFIX=${PREFIX}`], { cwd: root, encoding: 'utf8', timeout: 600_000 });
  assert.match(out, /keeping .*\/etc\/tcpotel\/config.yaml/);
  assert.equal(readFileSync(configFile, 'utf8'), edited);
});

test('systemd-analyze verify accepts the unit', (t) => {
  if (spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status !== 0) return t.skip('systemd-analyze is missing (scripts/setup.sh installs the systemd package)');
  // Verified as installed, its command pointed at the staged one (verify checks it runs).
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-unit-'));
  const copy = join(dir, 'tcpotel.service');
  writeFileSync(copy, readFileSync(unitFile, 'utf8').replace(`ExecStart=${PREFIX}/bin/tcpotel`, `ExecStart=${join(stage, PREFIX, 'bin', 'tcpotel')}`));
  const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no warning (an unknown or misspelt key is one)');
  // And it would say so: the check can fail.
  writeFileSync(copy, readFileSync(copy, 'utf8').replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes'));
  const bad = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', cwd: dir });
  assert.match(bad.stderr, /Unknown key 'NoNewPrivilege'/);
});

test('the staged tcpotel, with only the unit’s capabilities, attaches everything and counts known traffic exactly', { timeout: 120_000 }, async (t) => {
  if (spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status !== 0) return t.skip('setpriv (util-linux) is missing');
  const caps = unit().CapabilityBoundingSet!.split(' ').map((c) => '+' + c.replace(/^CAP_/, '').toLowerCase());
  const server = await startServer(['--addr', '127.0.0.1', '--port', '0', '--expect', '100', '--reply', '200']);
  const prom = await freePort();
  const health = await freePort();
  // The installed config, on free ports, its receiver kept to our server's port.
  const config = readFileSync(configFile, 'utf8')
    .replace('endpoint: 127.0.0.1:9464', `endpoint: 127.0.0.1:${prom}`)
    .replace('endpoint: 127.0.0.1:13133', `endpoint: 127.0.0.1:${health}`)
    .replace(/^ {4}interval: 10s$/m, '    interval: 200ms')
    .replace('  ebpf:\n', `  ebpf:\n    filter: {ports: [${server.port}]}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-caps-'));
  assert.ok(config.includes(`127.0.0.1:${prom}`) && config.includes(`127.0.0.1:${health}`) && config.includes('interval: 200ms'), config);
  writeFileSync(join(dir, 'config.yaml'), config);
  const child = spawn('setpriv', [`--bounding-set=-all,${caps.join(',')}`, '--inh-caps=-all', '--no-new-privs', process.execPath, join(lib, 'bin', 'tcpotel.js'), 'run', '--config', join(dir, 'config.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<number | null>((r) => child.on('exit', r));
  try {
    await poll('health_check ready', 60_000, async () => ((await fetch(`http://127.0.0.1:${health}/`).catch(() => undefined))?.status === 200 ? true : undefined), () => stderr);
    const capEff = /^CapEff:\s*(\w+)$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]!;
    // CAP_NET_ADMIN 12, CAP_PERFMON 38, CAP_BPF 39: exactly these.
    assert.equal(BigInt('0x' + capEff), (1n << 12n) | (1n << 38n) | (1n << 39n), `CapEff ${capEff}`);
    assert.doesNotMatch(stderr, /protocol detection is unavailable/);
    assert.match(stderr, /"protocols":"cgroup_skb ingress and egress/);
    const r = await runClient(['--addr', '127.0.0.1', '--port', String(server.port), '--count', '4', '--send', '100', '--expect', '200']);
    assert.equal(r.code, 0, r.stderr);
    const opened = prometheusMetricNames(TCP_METRICS.opened)!.name;
    const line = await poll('the opened connections on /metrics', 30_000, async () => {
      const text = await (await fetch(`http://127.0.0.1:${prom}/metrics`)).text();
      const l = text.split('\n').find((x) => x.startsWith(`${opened}{`) && x.includes(`server_port="${server.port}"`) && x.includes('network_tcp_handshake_role="client"'));
      return l && l.endsWith(' 4') ? l : undefined;
    }, () => stderr);
    assert.ok(line);
    child.kill('SIGTERM');
    assert.equal(await exit, 0, stderr);
  } finally {
    child.kill('SIGKILL');
    server.kill('SIGKILL');
  }
});

test('the Docker image builds from the Dockerfile', { timeout: 1_800_000 }, (t) => {
  const info = spawnSync('docker', ['info'], { encoding: 'utf8', timeout: 30_000 });
  if (info.status !== 0) return t.skip(`no Docker engine here (docker info: ${(info.stderr || info.error?.message || '').trim().split('\n').at(-1)}): the image build is not tested`);
  const tag = `tcpotel-test:${process.pid}`;
  try {
    execFileSync('docker', ['build', '-t', tag, '.'], { cwd: root, stdio: 'pipe', timeout: 1_700_000 });
    const out = execFileSync('docker', ['run', '--rm', tag, 'validate', '--config', '/opt/tcpotel/pipelines/otlp.yaml'], { encoding: 'utf8', timeout: 120_000 });
    assert.match(out, /configuration is valid/);
  } finally {
    spawnSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
  }
});

test('nothing is left in the staging root that the install did not put there', () => {
  assert.deepEqual(readdirSync(stage).sort(), ['etc', 'opt']);
});

/**
 * bpf/protocol.h, the protocol classifier, tested twice:
 *  - compiled as plain C (test/bpf/protocol_test.c, with ASan and UBSan) over real captures
 *    (test/bpf/testdata) and bad input, with exact expected results;
 *  - compiled for BPF (test/bpf/protocol_prog.bpf.c: cgroup_skb egress + ingress over
 *    bpf_skb_load_bytes), loaded by the kernel's verifier, attached to the cgroup v2 root,
 *    and run on real loopback traffic (Node http, Node tls with SNI db.example.test, IPv4
 *    and IPv6) and on every capture through BPF_PROG_TEST_RUN, where it must say exactly
 *    what the C build says.
 * The kernel part needs root, a cgroup v2 mount and bpf/.output/vmlinux.h (make bpf).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Agent, createServer as createHttpServer, get as httpGet } from 'node:http';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { makeCertificates } from '../support/certs.js';

const root = packageRoot();
const out = join(root, 'bpf', '.output');
const testdata = join(root, 'test', 'bpf', 'testdata');

const PROTO = { none: 0, unknown: 1, http: 2, http2: 3, grpc: 4, tls: 5 } as const;
const GET = 1;
const PF_SERVER = 0x04;

function cc(args: string[]): void {
  execFileSync(process.env.CC ?? 'cc', args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
}

let harnessBin: string | undefined;
function harness(): string {
  if (harnessBin) return harnessBin;
  const bin = join(out, 'protocol_test');
  // ASan and UBSan where the compiler has them (gcc on Debian does).
  try {
    cc(['-O1', '-g', '-Wall', '-Wextra', '-Werror', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-Ibpf', '-o', bin, 'test/bpf/protocol_test.c']);
  } catch {
    cc(['-O2', '-g', '-Wall', '-Wextra', '-Werror', '-Ibpf', '-o', bin, 'test/bpf/protocol_test.c']);
  }
  harnessBin = bin;
  return bin;
}

test('protocol.h in user space: captures, by-spec messages, bad input, fuzzing', () => {
  const bin = harness();
  const r = spawnSync(bin, [testdata], { cwd: root, encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
  const lines = r.stdout.trim().split('\n');
  const failures = lines.filter((l) => l.startsWith('not ok'));
  assert.deepEqual(failures, [], r.stdout.split('\n').filter((l) => /^(not ok|    )/.test(l)).join('\n'));
  assert.equal(r.status, 0, r.stderr);
  const summary = /^(\d+) passed, 0 failed$/.exec(lines.at(-1) ?? '');
  assert.ok(summary, `unexpected last line: ${lines.at(-1)}`);
  assert.ok(Number(summary[1]) >= 100, 'every case ran');
});

interface Info {
  proto: number;
  method: number;
  tls_version: number;
  flags: number;
  name: string;
  payload_len: number;
}
interface Result {
  family: number;
  egress: number;
  sport: number;
  dport: number;
  info: Info;
}
interface ProgStats {
  run_cnt: number;
  run_time_ns: number;
  verified_insns: number;
}

/** The loader (test/bpf/protocol_loader.c): JSON lines out, commands in. */
class Loader {
  private lines: string[] = [];
  private wake?: () => void;
  private stderr = '';
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      this.lines.push(l);
      this.wake?.();
    });
    child.stderr!.on('data', (d) => (this.stderr += d));
    child.on('close', () => this.wake?.());
  }
  async next(): Promise<any> {
    const deadline = Date.now() + 20_000;
    while (!this.lines.length) {
      if (this.child.exitCode !== null) throw new Error(`protocol_loader exited ${this.child.exitCode}: ${this.stderr.slice(-4000)}`);
      if (Date.now() > deadline) throw new Error('protocol_loader: no answer');
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 200);
      });
    }
    return JSON.parse(this.lines.shift()!);
  }
  async dump(): Promise<{ results: Result[]; stats: { egress: ProgStats; ingress: ProgStats } }> {
    this.child.stdin!.write('dump\n');
    const results: Result[] = [];
    for (;;) {
      const m = await this.next();
      if (m.result) results.push(m.result);
      else if (m.stats) {
        await this.next(); // {"end":true}
        return { results, stats: m.stats };
      }
    }
  }
  async testrun(payload: Buffer, repeat: number): Promise<{ retval: number; ns: number; base_ns: number; result: Info | null }> {
    this.child.stdin!.write(`testrun ${payload.toString('hex')} ${repeat}\n`);
    const m = await this.next();
    if (!m.testrun || m.testrun.error) throw new Error(`testrun: ${JSON.stringify(m)}`);
    return m.testrun;
  }
  async stop(): Promise<void> {
    this.child.stdin!.end();
    if (this.child.exitCode === null) await new Promise((r) => this.child.on('close', r));
  }
}

function cgroup2Mount(): string | undefined {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n');
  return mounts.map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2')?.[1];
}

function captureBytes(file: string): Buffer {
  const hex = readFileSync(join(testdata, file), 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('');
  return Buffer.from(hex, 'hex');
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}

function httpRequest(host: string, port: number, agent: Agent | false = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host, port, path: '/items?id=7', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

function tlsHandshake(host: string, port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, servername: 'db.example.test', ca, rejectUnauthorized: false }, () => {
      s.on('data', () => {});
      s.on('end', () => resolve(s.getProtocol() ?? ''));
    });
    s.on('error', reject);
  });
}

function garbage(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, host, () => s.end(Buffer.concat([Buffer.from([0x9c]), randomBytes(199)])));
    s.on('close', () => resolve());
    s.on('error', reject);
  });
}

function ipv6Loopback(): boolean {
  try {
    return readFileSync('/proc/net/if_inet6', 'utf8').includes('00000000000000000000000000000001');
  } catch {
    return false;
  }
}

test('protocol.h in the kernel: verifier, real loopback traffic, every capture as in user space', async (t) => {
  const cgroup = cgroup2Mount();
  if (process.getuid?.() !== 0) return t.skip('needs root');
  if (!cgroup) return t.skip('no cgroup2 mount');
  if (!existsSync(join(out, 'vmlinux.h'))) return t.skip('bpf/.output/vmlinux.h is missing: run make bpf');

  const obj = join(out, 'protocol_prog.bpf.o');
  execFileSync(process.env.CLANG ?? 'clang', ['-g', '-O2', '-Wall', '-target', 'bpf', '-mcpu=v3', '-D__TARGET_ARCH_x86', '-I', 'bpf/.output', '-I', 'bpf', '-c', 'test/bpf/protocol_prog.bpf.c', '-o', obj], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const loaderBin = join(out, 'protocol_loader');
  cc(['-O2', '-Wall', '-Wextra', '-Werror', '-Ibpf', '-o', loaderBin, 'test/bpf/protocol_loader.c', '-lbpf', '-lelf', '-lz']);
  const userspace = new Map<string, Info>();
  const files = readdirSync(testdata).filter((f) => f.endsWith('.hex')).sort();
  for (const l of execFileSync(harness(), ['--json', testdata, ...files], { encoding: 'utf8' }).trim().split('\n')) {
    const j = JSON.parse(l);
    userspace.set(j.file, j);
  }

  // Servers on random high ports; the program looks at those ports only.
  const certs = makeCertificates();
  const key = readFileSync(certs.serverKey);
  const cert = readFileSync(certs.serverCert);
  const v6 = ipv6Loopback();
  const hosts = v6 ? ['127.0.0.1', '::1'] : ['127.0.0.1'];
  const servers: { close(): unknown }[] = [];
  const httpPorts: number[] = [];
  const tlsPorts: number[] = [];
  const sinkPorts: number[] = [];
  for (const h of hosts) {
    const hs = createHttpServer((_req, res) => res.end('ok\n'));
    httpPorts.push(await listen(hs, h));
    const ts = createTlsServer({ key, cert }, (s) => s.end('hi\n'));
    tlsPorts.push(await listen(ts, h));
    const sink = createNetServer((s) => s.resume().on('end', () => s.end()));
    sinkPorts.push(await listen(sink, h));
    servers.push(hs, ts, sink);
  }
  const ports = [...httpPorts, ...tlsPorts, ...sinkPorts];
  const child = spawn(loaderBin, [obj, cgroup, String(Math.min(...ports)), String(Math.max(...ports))], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  const loader = new Loader(child);
  try {
    const ready = await loader.next();
    assert.equal(ready.ready, true);
    const insns = ready.egress.verified_insns as number;
    t.diagnostic(`verifier: ${insns} instructions processed for the egress program, ${ready.ingress.verified_insns} for ingress (limit 1000000)`);
    assert.ok(insns > 0 && insns < 300_000, `verified_insns ${insns}: the classifier's verification cost grew`);

    // Every capture, through the kernel: the same answer as the C build, and the packet passes.
    const perProto = new Map<number, number[]>();
    for (const f of files) {
      const name = f.replace(/\.hex$/, '');
      const bytes = captureBytes(f);
      const r = await loader.testrun(bytes, 10000);
      assert.equal(r.retval, 1, `${name}: the program must pass every packet`);
      assert.ok(r.result, `${name}: no result in the map`);
      const { payload_len: _pl, payload_off: _po, ...got } = r.result as Info & { payload_off: number };
      const { payload_len: _ul, file: _f, ...want } = userspace.get(name) as Info & { file: string };
      assert.deepEqual(got, want, `${name}: kernel and user-space builds disagree`);
      const list = perProto.get(got.proto) ?? [];
      list.push(Math.max(0, r.ns - r.base_ns));
      perProto.set(got.proto, list);
    }
    const names = Object.fromEntries(Object.entries({ ...PROTO, ssh: 6, postgresql: 7, mysql: 8, redis: 9, mongodb: 10, dns: 11, mqtt: 12, amqp: 13, kafka: 14 }).map(([k, v]) => [v, k]));
    t.diagnostic(
      'classification cost (BPF_PROG_TEST_RUN, ns above the same program without it, mean over captures): ' +
        [...perProto].map(([p, l]) => `${names[p]} ${Math.round(l.reduce((a, b) => a + b, 0) / l.length)}`).join(', '),
    );

    // Real traffic: HTTP/1.1 GETs, TLS handshakes with SNI, garbage; IPv4 and IPv6.
    const before = (await loader.dump()).stats;
    for (let i = 0; i < hosts.length; i++) {
      assert.equal(await httpRequest(hosts[i]!, httpPorts[i]!), 200);
      assert.match(await tlsHandshake(hosts[i]!, tlsPorts[i]!, readFileSync(certs.ca)), /^TLSv1\.[23]$/);
      await garbage(hosts[i]!, sinkPorts[i]!);
    }
    // More of the same, for a cost per packet over more than a handful of packets.
    for (let i = 0; i < 100; i++) await httpRequest(hosts[0]!, httpPorts[0]!);
    const { results, stats } = await loader.dump();

    const pick = (family: number, egress: number, port: number, serverSide: boolean) =>
      results.filter((r) => r.family === family && r.egress === egress && (serverSide ? r.sport === port : r.dport === port));
    for (let i = 0; i < hosts.length; i++) {
      const family = hosts[i] === '::1' ? 6 : 4;
      const host = family === 6 ? '::1' : '127.0.0.1';
      // The client's request, as its egress and as the server's ingress see it.
      for (const egress of [1, 0]) {
        const http = pick(family, egress, httpPorts[i]!, false);
        assert.ok(http.length >= 1, `IPv${family} http ${egress ? 'egress' : 'ingress'}: no result`);
        for (const r of http) assert.deepEqual({ proto: r.info.proto, method: r.info.method, name: r.info.name, flags: r.info.flags }, { proto: PROTO.http, method: GET, name: host, flags: 0 });
        const tls = pick(family, egress, tlsPorts[i]!, false);
        assert.equal(tls.length, 1, `IPv${family} tls ${egress ? 'egress' : 'ingress'}`);
        assert.deepEqual({ proto: tls[0]!.info.proto, name: tls[0]!.info.name, tls_version: tls[0]!.info.tls_version, flags: tls[0]!.info.flags }, { proto: PROTO.tls, name: 'db.example.test', tls_version: 0x0303, flags: 0 });
        const junk = pick(family, egress, sinkPorts[i]!, false);
        assert.equal(junk.length, 1);
        assert.equal(junk[0]!.info.proto, PROTO.unknown);
        assert.equal(junk[0]!.info.name, '');
      }
      // The servers' replies.
      const reply = pick(family, 1, httpPorts[i]!, true);
      assert.ok(reply.length >= 1);
      for (const r of reply) assert.deepEqual({ proto: r.info.proto, method: r.info.method, flags: r.info.flags }, { proto: PROTO.http, method: 0, flags: PF_SERVER });
      const hello = pick(family, 1, tlsPorts[i]!, true);
      assert.equal(hello.length, 1);
      assert.deepEqual({ proto: hello[0]!.info.proto, flags: hello[0]!.info.flags, name: hello[0]!.info.name }, { proto: PROTO.tls, flags: PF_SERVER, name: '' });
    }

    const per = (k: 'egress' | 'ingress') => {
      const runs = stats[k].run_cnt - before[k].run_cnt;
      const ns = stats[k].run_time_ns - before[k].run_time_ns;
      return { runs, ns, perRun: runs ? ns / runs : 0 };
    };
    const eg = per('egress');
    const ig = per('ingress');
    assert.ok(eg.runs > 0 && ig.runs > 0, 'bpf_stats counted the runs');
    t.diagnostic(
      `bpf_stats, new connections (every packet of the machine's cgroup tree; 4 classifications per loopback connection): ` +
        `egress ${eg.runs} runs, ${Math.round(eg.perRun)} ns/run; ingress ${ig.runs} runs, ${Math.round(ig.perRun)} ns/run; ` +
        `${results.length} directions classified`,
    );

    // One keep-alive connection: after its first packets, every run finds its direction classified.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    await httpRequest(hosts[0]!, httpPorts[0]!, agent);
    const warm = (await loader.dump()).stats;
    for (let i = 0; i < 300; i++) await httpRequest(hosts[0]!, httpPorts[0]!, agent);
    agent.destroy();
    const steady = (await loader.dump()).stats;
    const perSteady = (k: 'egress' | 'ingress') => {
      const runs = steady[k].run_cnt - warm[k].run_cnt;
      return runs ? Math.round((steady[k].run_time_ns - warm[k].run_time_ns) / runs) : 0;
    };
    t.diagnostic(`bpf_stats, one keep-alive connection (nothing left to classify): egress ${perSteady('egress')} ns/run, ingress ${perSteady('ingress')} ns/run`);
  } finally {
    await loader.stop();
    for (const s of servers) s.close();
  }
});

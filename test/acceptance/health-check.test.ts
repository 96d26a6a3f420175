/**
 * health_check on the real command: ready once the eBPF receiver is attached; unhealthy
 * once the OTLP endpoint has been down for longer than exporter_failure_window; ready
 * again once the endpoint is back and an export went through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OtlpReceiver } from '../support/otlp-receiver.js';
import { freePort, poll, runTcpotel } from '../support/tcpotel.js';

interface Answer {
  code: number;
  body: { status: string; reasons: string[]; components: Record<string, { status: string; since: string; error?: string }> };
}

async function health(port: number): Promise<Answer | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    return { code: res.status, body: (await res.json()) as Answer['body'] };
  } catch {
    return undefined; // not listening yet
  }
}

const WINDOW_S = 4;

test('health_check: ready when the eBPF receiver is attached, 503 after the exporter failed for the window, ready again when it recovers', { timeout: 120_000 }, async () => {
  const hcPort = await freePort();
  const otlpPort = await freePort();
  const unusedPort = await freePort();
  const yaml = `
receivers:
  ebpf: {snapshot: false, sample_interval: 0, filter: {ports: [${unusedPort}]}}
processors:
  aggregate: {interval: 200ms, keys: none}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:${otlpPort}
    timeout: 2s
    retry_on_failure: {initial_interval: 100ms, max_interval: 300ms}
extensions:
  health_check: {endpoint: "127.0.0.1:${hcPort}", exporter_failure_window: ${WINDOW_S}s}
service:
  extensions: [health_check]
  pipelines:
    metrics: {receivers: [ebpf], processors: [aggregate], exporters: [otlphttp]}
`;
  const answers: Answer[] = [];
  const tcpotel = await runTcpotel(yaml, { waitRunning: false });
  let receiver: OtlpReceiver | undefined;
  try {
    // Ready once running: the receiver attached and the exporter started. Every answer on
    // the way is consistent with the components it lists.
    const ready = await poll('a ready answer', 60_000, async () => {
      const a = await health(hcPort);
      if (a) answers.push(a);
      return a?.code === 200 ? a : undefined;
    }, tcpotel.stderr);
    assert.ok(tcpotel.stderr().includes('tcpotel is running') || ready.body.status === 'ready');
    assert.equal(ready.body.status, 'ready');
    assert.equal(ready.body.components['receiver/ebpf']!.status, 'ok', 'attached');
    for (const a of answers) {
      if (a.body.status === 'starting') assert.equal(a.code, 503);
      if (a.code === 200) assert.equal(a.body.components['receiver/ebpf']!.status, 'ok');
    }
    // The endpoint is down: the exporter fails from its first export on; after the window, 503.
    const unhealthy = await poll('an unhealthy answer', 60_000, async () => {
      const a = await health(hcPort);
      return a?.code === 503 ? a : undefined;
    }, tcpotel.stderr);
    assert.equal(unhealthy.body.status, 'unhealthy');
    const exporter = unhealthy.body.components['exporter/otlphttp (metrics)']!;
    assert.equal(exporter.status, 'recoverable_error');
    assert.match(exporter.error ?? '', /ECONNREFUSED/);
    const reason = unhealthy.body.reasons.find((r) => r.startsWith('exporter/otlphttp (metrics) has been failing for '));
    assert.ok(reason, JSON.stringify(unhealthy.body.reasons));
    assert.ok(Number(/failing for (\d+)s/.exec(reason!)![1]) >= WINDOW_S, reason);
    assert.equal(unhealthy.body.components['receiver/ebpf']!.status, 'ok', 'the receiver is fine');
    // The endpoint comes back: the next export goes through and tcpotel is ready again.
    receiver = await OtlpReceiver.start({ httpPort: otlpPort });
    const again = await poll('ready again', 60_000, async () => {
      const a = await health(hcPort);
      return a?.code === 200 ? a : undefined;
    }, tcpotel.stderr);
    assert.equal(again.body.components['exporter/otlphttp (metrics)']!.status, 'ok');
    assert.ok(receiver.requests.some((r) => r.signal === 'metrics'), 'the export that made it healthy arrived');
    assert.equal(await tcpotel.stop(), 0, tcpotel.stderr());
  } finally {
    tcpotel.child.kill('SIGKILL');
    await receiver?.stop();
  }
});

/**
 * The OTLP/JSON logs fast path writes what the OpenTelemetry package writes: the same
 * resource, scope, records and attribute values (all records under one scope, where the
 * package repeats the scope per record).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonLogsSerializer } from '@opentelemetry/otlp-transformer';
import { eventBatch, EVENT_KINDS, type TcpEvent } from '../../../src/core/events.js';
import { nowHrTime } from '../../../src/core/metrics.js';
import { batchToLogRecords } from '../../../src/exporters/shared/logs.js';
import { logsRequestJson } from '../../../src/exporters/shared/logs-json.js';
import { makeEvent } from '../../support/events.js';

type Req = { resourceLogs: Array<{ resource: unknown; scopeLogs: Array<{ scope: unknown; logRecords: Array<Record<string, unknown>> }> }> };

/** Records with their resource and scope, whatever the grouping. */
function flatten(req: Req) {
  return req.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords.map((r) => ({ resource: rl.resource, scope: sl.scope, ...r }))));
}

test('every kind of event, odd strings and numbers: the same request as the OpenTelemetry serializer', () => {
  const events: TcpEvent[] = [];
  for (const kind of EVENT_KINDS) {
    events.push(makeEvent({ kind, pid: 7, comm: 'we"ird\\\n', errno: kind === 'failed' ? 111 : 0, reset: kind === 'reset' ? 'received' : undefined, srttUs: 151, durationNs: 5_000_001, handshakeNs: 1234, cgroupId: 2 ** 45 + 3 }));
  }
  events.push(makeEvent({ kind: 'close', family: 6, localAddress: 'fd00::1', remoteAddress: '::ffff:10.1.2.3', pid: 0, comm: '', attributes: { 'container.id': 'abc', 'process.executable.name': undefined, x: 1.25, y: false } }));
  const batch = eventBatch('ebpf', events, { resource: { 'host.name': 'h\u00e9"st', 'os.type': 'linux', n: 3 } });
  const observed = nowHrTime();
  const ours = JSON.parse(logsRequestJson(batch, observed)) as Req;
  // The package with the same observed time.
  const records = batchToLogRecords(batch).map((r) => ({ ...r, hrTimeObserved: observed }));
  const theirs = JSON.parse(new TextDecoder().decode(JsonLogsSerializer.serializeRequest(records)!)) as Req;
  assert.equal(ours.resourceLogs.length, 1);
  assert.equal(ours.resourceLogs[0]!.scopeLogs.length, 1, 'one scope for all records');
  assert.deepEqual(flatten(ours), flatten(theirs));
});

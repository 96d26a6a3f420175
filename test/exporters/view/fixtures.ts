/** Metric batches as the aggregate processor emits them, written point by point. */
import type { Attributes, GaugePoint, HistogramPoint, MetricBatch, MetricPoint, SumPoint } from '../../../src/core/metrics.js';
import { hrTimeFromMs, seriesKey } from '../../../src/core/metrics.js';

/** Attributes of a five_tuple + process.pid + process.executable.name series. */
export function conn(localPort: number, peerPort: number, pid: number, comm: string, local = '127.0.0.1', peer = '127.0.0.1'): Attributes {
  return {
    'network.transport': 'tcp',
    'network.type': local.includes(':') ? 'ipv6' : 'ipv4',
    'network.local.address': local,
    'network.local.port': localPort,
    'network.peer.address': peer,
    'network.peer.port': peerPort,
    'process.pid': pid,
    'process.executable.name': comm,
  };
}

export function sum(name: string, attributes: Attributes, value: number): SumPoint {
  return { type: 'sum', name, attributes, seriesKey: seriesKey(name, attributes), value };
}

export function gauge(name: string, attributes: Attributes, value: number): GaugePoint {
  return { type: 'gauge', name, attributes, seriesKey: seriesKey(name, attributes), value };
}

export function durationHist(attributes: Attributes, seconds: number[]): HistogramPoint {
  const name = 'tcp.connection.duration';
  return {
    type: 'histogram',
    name,
    attributes,
    seriesKey: seriesKey(name, attributes),
    count: seconds.length,
    sum: seconds.reduce((a, b) => a + b, 0),
    min: Math.min(...seconds),
    max: Math.max(...seconds),
    bucketCounts: [seconds.length],
    bounds: [],
  };
}

export const io = (a: Attributes, dir: 'transmit' | 'receive', v: number) => sum('tcp.io', { ...a, 'network.io.direction': dir }, v);
export const opened = (a: Attributes, v = 1) => sum('tcp.connections.opened', a, v);
export const closed = (a: Attributes, v = 1) => sum('tcp.connections.closed', a, v);
export const active = (a: Attributes, v: number) => sum('tcp.connections.active', a, v);
export const failed = (a: Attributes, reason: string, v = 1) => sum('tcp.connections.failed', { ...a, 'error.type': reason }, v);
export const retrans = (a: Attributes, v: number) => sum('tcp.retransmits', a, v);
export const resets = (a: Attributes, dir: 'sent' | 'received', v = 1) => sum('tcp.resets', { ...a, 'tcp.reset.direction': dir }, v);
export const sockets = (state: string, family: 'ipv4' | 'ipv6', v: number) =>
  gauge('system.network.connection.count', { 'network.connection.state': state, 'network.transport': 'tcp', 'network.type': family }, v);

/** T0: 2026-11-25T07:00:00Z. */
export const T0 = Date.UTC(2026, 10, 25, 7, 0, 0);

/** A window [startMs, endMs) of points. */
export function windowBatch(startMs: number, endMs: number, points: MetricPoint[]): MetricBatch {
  return { type: 'metrics', startTime: hrTimeFromMs(startMs), endTime: hrTimeFromMs(endMs), points };
}

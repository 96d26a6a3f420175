/**
 * Recording and alerting rules for Prometheus over tcpotel's metrics
 * (deploy/prometheus/tcpotel-rules.yaml), and their unit tests for `promtool test rules`
 * (deploy/prometheus/tcpotel-rules.test.yaml). Written by scripts/gen-deploy.mjs; a test
 * keeps the files equal to what this makes.
 *
 * The per-server rules expect the aggregate keyed on the `server` preset (server.address,
 * server.port, network.tcp.handshake.role), as pipelines/host.yaml and prometheus.yaml are,
 * and the scrape job named `tcpotel`.
 */
import { L, M, droppedSelector, eq, orZero, sel, sumRate } from './promql.js';

/** The scrape job the rules and the dashboard expect. */
export const JOB = 'tcpotel';

const BY_SERVER = ['job', 'instance', L.serverAddress, L.serverPort];
const BY_INSTANCE = ['job', 'instance'];

/** Recording rule names: level:metric:operations, as Prometheus' naming practice has it. */
export const RECORDED = {
  failureRatio: 'instance_server:tcp_connections_failed:ratio_rate5m',
  retransmitRatio: 'instance_server:tcp_retransmits:ratio_rate5m',
  handshakeP99: 'instance_server:tcp_handshake_duration_seconds:p99_rate5m',
  dropped: 'instance:tcpotel_dropped:rate5m',
} as const;

/** Alert thresholds (tune them to your network). */
export const THRESHOLDS = {
  failureRatio: 0.05,
  retransmitRatio: 0.02,
  handshakeP99Seconds: 0.5,
} as const;

export interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function failureRatio(range: string): string {
  const failed = sumRate(M.failed, range, BY_SERVER);
  const opened = sumRate(sel(M.opened, eq(L.role, 'client')), range, BY_SERVER);
  // Failed connects per connect attempt (failed + established by connecting), 0 for a
  // server nothing failed to reach.
  return `${orZero(failed, opened)}\n/\n(\n  ${orZero(failed, opened)}\n  +\n  ${orZero(opened, failed)}\n)`;
}

function retransmitRatio(range: string): string {
  const sent = sumRate(sel(M.segments, eq(L.direction, 'transmit')), range, BY_SERVER);
  const retransmitted = sumRate(M.retransmits, range, BY_SERVER);
  return `${orZero(retransmitted, sent)}\n/\n${sent}`;
}

export function prometheusRules(): { groups: Array<{ name: string; rules: Rule[] }> } {
  const server = `{{ $labels.${L.serverAddress} }}:{{ $labels.${L.serverPort} }}`;
  return {
    groups: [
      {
        name: 'tcpotel.records',
        rules: [
          { record: RECORDED.failureRatio, expr: failureRatio('5m') },
          { record: RECORDED.retransmitRatio, expr: retransmitRatio('5m') },
          {
            record: RECORDED.handshakeP99,
            expr: `histogram_quantile(0.99, sum by (${[...BY_SERVER, 'le'].join(', ')}) (rate(${M.handshakeBucket}[5m])))`,
          },
          { record: RECORDED.dropped, expr: `sum by (${BY_INSTANCE.join(', ')}) (rate(${droppedSelector()}[5m]))` },
        ],
      },
      {
        name: 'tcpotel.alerts',
        rules: [
          {
            alert: 'TcpConnectionFailureRatioHigh',
            expr: `${RECORDED.failureRatio} > ${THRESHOLDS.failureRatio}`,
            for: '10m',
            labels: { severity: 'warning' },
            annotations: {
              summary: `Connects to ${server} fail`,
              description: `{{ $value | humanizePercentage }} of the connects from {{ $labels.instance }} to ${server} failed over 5 minutes (more than ${THRESHOLDS.failureRatio * 100}% for 10 minutes).`,
            },
          },
          {
            alert: 'TcpRetransmitRatioHigh',
            expr: `${RECORDED.retransmitRatio} > ${THRESHOLDS.retransmitRatio}`,
            for: '10m',
            labels: { severity: 'warning' },
            annotations: {
              summary: `Segments to and from ${server} are lost`,
              description: `{{ $value | humanizePercentage }} of the segments {{ $labels.instance }} sent on connections with ${server} were retransmitted over 5 minutes (more than ${THRESHOLDS.retransmitRatio * 100}% for 10 minutes).`,
            },
          },
          {
            alert: 'TcpHandshakeLatencyHigh',
            expr: `${RECORDED.handshakeP99} > ${THRESHOLDS.handshakeP99Seconds}`,
            for: '10m',
            labels: { severity: 'warning' },
            annotations: {
              summary: `Handshakes with ${server} are slow`,
              description: `The 99th percentile of TCP handshakes between {{ $labels.instance }} and ${server} took {{ $value | humanizeDuration }} over 5 minutes (more than ${THRESHOLDS.handshakeP99Seconds}s for 10 minutes): SYNs lost or a backlog full.`,
            },
          },
          {
            alert: 'TcpotelDroppingData',
            expr: `${RECORDED.dropped} > 0`,
            for: '2m',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'tcpotel is dropping data',
              description: `tcpotel on {{ $labels.instance }} lost {{ $value | humanize }} items/s over 5 minutes (ring buffer full, skipped program runs, export failures: see the tcpotel dashboard's drop panels).`,
            },
          },
          {
            alert: 'TcpotelDown',
            expr: `${sel('up', eq('job', JOB))} == 0`,
            for: '2m',
            labels: { severity: 'critical' },
            annotations: {
              summary: 'tcpotel is down',
              description: 'Prometheus has not been able to scrape tcpotel on {{ $labels.instance }} for 2 minutes.',
            },
          },
        ],
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------
// `promtool test rules`: every alert fires where it should and nowhere else; every
// recording rule's value for known input.

const H1 = 'node-1:9464';
const H2 = 'node-2:9464';

function series(name: string, labels: Record<string, string>, values: string): { series: string; values: string } {
  const all = { job: JOB, ...labels };
  return { series: `${name}{${Object.entries(all).map(([k, v]) => `${k}="${v}"`).join(', ')}}`, values };
}

const db = { [L.serverAddress]: '10.0.0.5', [L.serverPort]: '5432' };
const web = { [L.serverAddress]: '10.0.0.6', [L.serverPort]: '80' };

export function prometheusRuleTests(rulesFile: string): unknown {
  const server = (s: Record<string, string>) => `${s[L.serverAddress]}:${s[L.serverPort]}`;
  const alertLabels = (s: Record<string, string>, severity: string, instance = H1) => ({ severity, job: JOB, instance, ...s });
  return {
    rule_files: [rulesFile],
    evaluation_interval: '1m',
    tests: [
      {
        name: 'connection failure ratio: 10% of the connects to the database fail, none to the web server',
        interval: '1m',
        input_series: [
          // Per minute: 6 refused and 54 established connects to the database, 60 established to the web server.
          series(M.failed, { instance: H1, ...db, [L.errorType]: 'connection_refused', [L.process]: 'app' }, '0+6x30'),
          series(M.opened, { instance: H1, ...db, [L.role]: 'client', [L.process]: 'app' }, '0+54x30'),
          series(M.opened, { instance: H1, ...web, [L.role]: 'client', [L.process]: 'app' }, '0+60x30'),
          // Accepted connections do not count as connect attempts.
          series(M.opened, { instance: H1, ...db, [L.role]: 'server', [L.process]: 'postgres' }, '0+1000x30'),
        ],
        promql_expr_test: [
          {
            expr: RECORDED.failureRatio,
            eval_time: '10m',
            exp_samples: [
              { labels: `${RECORDED.failureRatio}{instance="${H1}", job="${JOB}", ${L.serverAddress}="10.0.0.5", ${L.serverPort}="5432"}`, value: 0.1 },
              { labels: `${RECORDED.failureRatio}{instance="${H1}", job="${JOB}", ${L.serverAddress}="10.0.0.6", ${L.serverPort}="80"}`, value: 0 },
            ],
          },
        ],
        alert_rule_test: [
          { alertname: 'TcpConnectionFailureRatioHigh', eval_time: '10m', exp_alerts: [] },
          {
            alertname: 'TcpConnectionFailureRatioHigh',
            eval_time: '20m',
            exp_alerts: [
              {
                exp_labels: alertLabels(db, 'warning'),
                exp_annotations: {
                  summary: `Connects to ${server(db)} fail`,
                  description: `10% of the connects from ${H1} to ${server(db)} failed over 5 minutes (more than 5% for 10 minutes).`,
                },
              },
            ],
          },
        ],
      },
      {
        name: 'retransmit ratio: 3% of the segments to the database are retransmitted, 1% to the web server',
        interval: '1m',
        input_series: [
          series(M.segments, { instance: H1, ...db, [L.role]: 'client', [L.process]: 'app', [L.direction]: 'transmit' }, '0+100x30'),
          series(M.segments, { instance: H1, ...db, [L.role]: 'client', [L.process]: 'app', [L.direction]: 'receive' }, '0+5000x30'),
          series(M.retransmits, { instance: H1, ...db, [L.role]: 'client', [L.process]: 'app' }, '0+3x30'),
          series(M.segments, { instance: H1, ...web, [L.role]: 'client', [L.process]: 'app', [L.direction]: 'transmit' }, '0+100x30'),
          series(M.retransmits, { instance: H1, ...web, [L.role]: 'client', [L.process]: 'app' }, '0+1x30'),
        ],
        promql_expr_test: [
          {
            expr: RECORDED.retransmitRatio,
            eval_time: '10m',
            exp_samples: [
              { labels: `${RECORDED.retransmitRatio}{instance="${H1}", job="${JOB}", ${L.serverAddress}="10.0.0.5", ${L.serverPort}="5432"}`, value: 0.03 },
              { labels: `${RECORDED.retransmitRatio}{instance="${H1}", job="${JOB}", ${L.serverAddress}="10.0.0.6", ${L.serverPort}="80"}`, value: 0.01 },
            ],
          },
        ],
        alert_rule_test: [
          {
            alertname: 'TcpRetransmitRatioHigh',
            eval_time: '20m',
            exp_alerts: [
              {
                exp_labels: alertLabels(db, 'warning'),
                exp_annotations: {
                  summary: `Segments to and from ${server(db)} are lost`,
                  description: `3% of the segments ${H1} sent on connections with ${server(db)} were retransmitted over 5 minutes (more than 2% for 10 minutes).`,
                },
              },
            ],
          },
        ],
      },
      {
        name: 'handshake latency: the database’s handshakes take between 1 and 2.5 s (SYNs retransmitted), the web server’s under 1 ms',
        interval: '1m',
        input_series: [
          ...histogramSeries(M.handshakeBucket, { instance: H1, ...db, [L.role]: 'client', [L.process]: 'app' }, { '0.001': 0, '1': 0, '2.5': 10, '+Inf': 10 }),
          ...histogramSeries(M.handshakeBucket, { instance: H1, ...web, [L.role]: 'client', [L.process]: 'app' }, { '0.001': 10, '1': 10, '2.5': 10, '+Inf': 10 }),
        ],
        promql_expr_test: [
          {
            expr: RECORDED.handshakeP99,
            eval_time: '10m',
            exp_samples: [
              // Linear within the bucket (1, 2.5]: 1 + 1.5 * 0.99.
              { labels: `${RECORDED.handshakeP99}{instance="${H1}", job="${JOB}", ${L.serverAddress}="10.0.0.5", ${L.serverPort}="5432"}`, value: 2.485 },
              { labels: `${RECORDED.handshakeP99}{instance="${H1}", job="${JOB}", ${L.serverAddress}="10.0.0.6", ${L.serverPort}="80"}`, value: 0.00099 },
            ],
          },
        ],
        alert_rule_test: [
          {
            alertname: 'TcpHandshakeLatencyHigh',
            eval_time: '20m',
            exp_alerts: [
              {
                exp_labels: alertLabels(db, 'warning'),
                exp_annotations: {
                  summary: `Handshakes with ${server(db)} are slow`,
                  description: `The 99th percentile of TCP handshakes between ${H1} and ${server(db)} took 2.485s over 5 minutes (more than 0.5s for 10 minutes): SYNs lost or a backlog full.`,
                },
              },
            ],
          },
        ],
      },
      {
        name: 'tcpotel dropping: one node’s ring buffer overflows; the other only filters, which is no loss',
        interval: '1m',
        input_series: [
          series(M.eventsDropped, { instance: H1, [L.component]: 'ebpf', [L.eventKind]: 'close', [L.dropReason]: 'ring_buffer_full' }, '0+60x30'),
          series(M.eventsDropped, { instance: H2, [L.component]: 'ebpf', [L.eventKind]: 'close', [L.dropReason]: 'ring_buffer_full' }, '0x30'),
          series(M.itemsDropped, { instance: H2, [L.component]: 'filter', [L.dropReason]: 'filtered' }, '0+6000x30'),
        ],
        promql_expr_test: [
          {
            expr: RECORDED.dropped,
            eval_time: '10m',
            exp_samples: [
              { labels: `${RECORDED.dropped}{instance="${H1}", job="${JOB}"}`, value: 1 },
              { labels: `${RECORDED.dropped}{instance="${H2}", job="${JOB}"}`, value: 0 },
            ],
          },
        ],
        alert_rule_test: [
          { alertname: 'TcpotelDroppingData', eval_time: '2m', exp_alerts: [] },
          {
            alertname: 'TcpotelDroppingData',
            eval_time: '10m',
            exp_alerts: [
              {
                exp_labels: { severity: 'warning', job: JOB, instance: H1 },
                exp_annotations: {
                  summary: 'tcpotel is dropping data',
                  description: `tcpotel on ${H1} lost 1 items/s over 5 minutes (ring buffer full, skipped program runs, export failures: see the tcpotel dashboard's drop panels).`,
                },
              },
            ],
          },
        ],
      },
      {
        name: 'tcpotel down: one node stops answering scrapes at minute 6',
        interval: '1m',
        input_series: [
          { series: `up{job="${JOB}", instance="${H1}"}`, values: '1x5 0x20' },
          { series: `up{job="${JOB}", instance="${H2}"}`, values: '1x25' },
        ],
        alert_rule_test: [
          { alertname: 'TcpotelDown', eval_time: '7m', exp_alerts: [] },
          {
            alertname: 'TcpotelDown',
            eval_time: '9m',
            exp_alerts: [
              {
                exp_labels: { severity: 'critical', job: JOB, instance: H1 },
                exp_annotations: { summary: 'tcpotel is down', description: `Prometheus has not been able to scrape tcpotel on ${H1} for 2 minutes.` },
              },
            ],
          },
        ],
      },
    ],
  };
}

/** Cumulative bucket series of a histogram growing by `perMinute` in each bucket. */
function histogramSeries(bucket: string, labels: Record<string, string>, perMinute: Record<string, number>) {
  return Object.entries(perMinute).map(([le, n]) => series(bucket, { ...labels, le }, `0+${n}x30`));
}

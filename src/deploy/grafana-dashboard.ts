/**
 * The Grafana dashboard over tcpotel's Prometheus metrics (deploy/grafana/tcpotel.json),
 * written by scripts/gen-deploy.mjs; a test keeps the file equal to what this makes and
 * runs every query against a real Prometheus scraping a real tcpotel.
 *
 * Variables: the data source, the scrape job and its instances. Panels group by server
 * endpoint (server.address:server.port, the `server` key preset), program, protocol;
 * ratios come from the recording rules of deploy/prometheus/tcpotel-rules.yaml.
 */
import { JOB, RECORDED } from './prometheus-rules.js';
import { INTENDED_DROPS, L, M, droppedSelector, eq, sel, sumRate } from './promql.js';

export interface Target {
  refId: string;
  expr: string;
  legendFormat: string;
  format?: 'heatmap' | 'time_series';
}

export interface Panel {
  id: number;
  type: 'row' | 'timeseries' | 'heatmap' | 'stat';
  title: string;
  description?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: 'prometheus'; uid: string };
  targets?: Target[];
  fieldConfig?: unknown;
  options?: unknown;
  collapsed?: boolean;
  panels?: Panel[];
}

/** The variables' part of every selector. */
const SCOPE = ['job="$job"', 'instance=~"$instance"'];
const RATE = '$__rate_interval';
const DS = { type: 'prometheus' as const, uid: '${datasource}' };
const serverLegend = `{{${L.serverAddress}}}:{{${L.serverPort}}}`;
const BY_SERVER = [L.serverAddress, L.serverPort];

function s(name: string, ...matchers: string[]): string {
  return sel(name, ...SCOPE, ...matchers);
}

interface PanelSpec {
  type: 'timeseries' | 'heatmap' | 'stat';
  title: string;
  description: string;
  unit: string;
  targets: Array<Omit<Target, 'refId'>>;
  /** Half width (default) or full. */
  wide?: boolean;
  stack?: boolean;
}

const ROWS: Array<{ title: string; panels: PanelSpec[] }> = [
  {
    title: 'Connections',
    panels: [
      {
        type: 'timeseries',
        title: 'Connections opened by server',
        description: 'Connections established per second, by server endpoint and by which end connected (client: this host connected; server: it accepted).',
        unit: 'cps',
        targets: [{ expr: sumRate(s(M.opened), RATE, [...BY_SERVER, L.role]), legendFormat: `${serverLegend} {{${L.role}}}` }],
      },
      {
        type: 'timeseries',
        title: 'Active connections by server',
        description: 'Connections open now, by server endpoint.',
        unit: 'short',
        targets: [{ expr: `sum by (${BY_SERVER.join(', ')}) (${s(M.active)})`, legendFormat: serverLegend }],
      },
      {
        type: 'timeseries',
        title: 'Failed connects by server',
        description: 'Connects that failed per second (refused, timed out, unreachable, reset before established), by server endpoint.',
        unit: 'cps',
        targets: [{ expr: sumRate(s(M.failed), RATE, BY_SERVER), legendFormat: serverLegend }],
      },
      {
        type: 'timeseries',
        title: 'Failure reasons',
        description: 'Failed connects per second by error.type.',
        unit: 'cps',
        stack: true,
        targets: [{ expr: sumRate(s(M.failed), RATE, [L.errorType]), legendFormat: `{{${L.errorType}}}` }],
      },
      {
        type: 'timeseries',
        title: 'Connection failure ratio by server',
        description: 'Failed connects per connect attempt over 5 minutes (recording rule; the TcpConnectionFailureRatioHigh alert fires above 5%).',
        unit: 'percentunit',
        targets: [{ expr: sel(RECORDED.failureRatio, ...SCOPE), legendFormat: serverLegend }],
      },
      {
        type: 'timeseries',
        title: 'Active connections by program',
        description: 'Connections open now, by the owning program.',
        unit: 'short',
        targets: [{ expr: `sum by (${L.process}) (${s(M.active)})`, legendFormat: `{{${L.process}}}` }],
      },
    ],
  },
  {
    title: 'Traffic',
    panels: [
      {
        type: 'timeseries',
        title: 'Bytes by server',
        description: 'Bytes per second sent (acknowledged by the peer) and received, by server endpoint and direction.',
        unit: 'Bps',
        targets: [{ expr: sumRate(s(M.io), RATE, [...BY_SERVER, L.direction]), legendFormat: `${serverLegend} {{${L.direction}}}` }],
      },
      {
        type: 'timeseries',
        title: 'Bytes by program',
        description: 'Bytes per second, both directions, by the owning program.',
        unit: 'Bps',
        stack: true,
        targets: [{ expr: sumRate(s(M.io), RATE, [L.process]), legendFormat: `{{${L.process}}}` }],
      },
      {
        type: 'timeseries',
        title: 'Connections by protocol',
        description: 'Connections closed per second by network.protocol.name, what their first bytes said (unknown: nothing recognised or nothing sent). Counted at close: a connection opens before its first bytes, so its open counts under unknown. Needs the aggregate keyed on network.protocol.name.',
        unit: 'cps',
        stack: true,
        targets: [{ expr: sumRate(s(M.closed), RATE, [L.protocol]), legendFormat: `{{${L.protocol}}}` }],
      },
      {
        type: 'timeseries',
        title: 'Bytes by protocol',
        description: 'Bytes per second, both directions, by network.protocol.name.',
        unit: 'Bps',
        stack: true,
        targets: [{ expr: sumRate(s(M.io), RATE, [L.protocol]), legendFormat: `{{${L.protocol}}}` }],
      },
    ],
  },
  {
    title: 'Retransmits, loss and resets',
    panels: [
      {
        type: 'timeseries',
        title: 'Retransmits by server',
        description: 'Segments retransmitted per second, by server endpoint.',
        unit: 'short',
        targets: [{ expr: sumRate(s(M.retransmits), RATE, BY_SERVER), legendFormat: serverLegend }],
      },
      {
        type: 'timeseries',
        title: 'Retransmit ratio by server',
        description: 'Retransmitted segments per segment sent over 5 minutes: the loss on the way (recording rule; TcpRetransmitRatioHigh fires above 2%).',
        unit: 'percentunit',
        targets: [{ expr: sel(RECORDED.retransmitRatio, ...SCOPE), legendFormat: serverLegend }],
      },
      {
        type: 'heatmap',
        title: 'Loss per connection',
        description: 'Closed connections by their loss (retransmitted segments per segment sent over their life): tcp.connection.loss.',
        unit: 'percentunit',
        targets: [{ expr: `sum by (le) (rate(${s(M.lossBucket)}[${RATE}]))`, legendFormat: '{{le}}', format: 'heatmap' }],
      },
      {
        type: 'timeseries',
        title: 'Resets',
        description: 'Resets (RST) per second, sent and received.',
        unit: 'short',
        targets: [{ expr: sumRate(s(M.resets), RATE, [L.resetDirection]), legendFormat: `{{${L.resetDirection}}}` }],
      },
    ],
  },
  {
    title: 'Latency',
    panels: [
      {
        type: 'heatmap',
        title: 'Round-trip time',
        description: 'Smoothed RTT of connections, sampled at close and at each live sample.',
        unit: 's',
        targets: [{ expr: `sum by (le) (rate(${s(M.rttBucket)}[${RATE}]))`, legendFormat: '{{le}}', format: 'heatmap' }],
      },
      {
        type: 'heatmap',
        title: 'Handshake duration',
        description: 'SYN to established: SYN_SENT to ESTABLISHED when connecting, the SYN-ACK round trip when accepting.',
        unit: 's',
        targets: [{ expr: `sum by (le) (rate(${s(M.handshakeBucket)}[${RATE}]))`, legendFormat: '{{le}}', format: 'heatmap' }],
      },
      {
        type: 'timeseries',
        title: 'Handshake p99 by server',
        description: 'The 99th percentile of handshakes over 5 minutes (recording rule; TcpHandshakeLatencyHigh fires above 0.5 s).',
        unit: 's',
        targets: [{ expr: sel(RECORDED.handshakeP99, ...SCOPE), legendFormat: serverLegend }],
      },
      {
        type: 'timeseries',
        title: 'Connection duration p50 and p99',
        description: 'Lifetime of closed connections.',
        unit: 's',
        targets: [
          { expr: `histogram_quantile(0.5, sum by (le) (rate(${s(M.durationBucket)}[${RATE}])))`, legendFormat: 'p50' },
          { expr: `histogram_quantile(0.99, sum by (le) (rate(${s(M.durationBucket)}[${RATE}])))`, legendFormat: 'p99' },
        ],
      },
    ],
  },
  {
    title: 'Host',
    panels: [
      {
        type: 'timeseries',
        title: 'Sockets by state',
        description: 'TCP sockets of the host by state, at each live sample.',
        unit: 'short',
        wide: true,
        targets: [{ expr: `sum by (${L.state}) (${s(M.sockets)})`, legendFormat: `{{${L.state}}}` }],
      },
    ],
  },
  {
    title: 'tcpotel itself',
    panels: [
      {
        type: 'stat',
        title: 'Up',
        description: 'Whether Prometheus could scrape tcpotel (TcpotelDown fires after 2 minutes of 0).',
        unit: 'short',
        targets: [{ expr: sel('up', ...SCOPE), legendFormat: '{{instance}}' }],
      },
      {
        type: 'timeseries',
        title: 'Data lost',
        description: `Everything tcpotel lost per second, by what and why: kernel events the ring buffer could not take, program runs the kernel skipped, items a component dropped (not counting ${INTENDED_DROPS.join(', ')}, which the config asks for). TcpotelDroppingData fires above 0.`,
        unit: 'short',
        targets: [{ expr: `sum by (${L.component}, ${L.dropReason}) (rate(${droppedSelector(...SCOPE)}[${RATE}]))`, legendFormat: `{{${L.component}}} {{${L.dropReason}}}` }],
      },
      {
        type: 'timeseries',
        title: 'Kernel events',
        description: 'Events the kernel programs produced per second, by kind.',
        unit: 'short',
        stack: true,
        targets: [{ expr: sumRate(s(M.eventsProduced), RATE, [L.eventKind]), legendFormat: `{{${L.eventKind}}}` }],
      },
      {
        type: 'timeseries',
        title: 'Series folded by the cap',
        description: 'Updates folded into the otel.metric.overflow series per second: choose coarser aggregate keys or raise max_series.',
        unit: 'short',
        targets: [{ expr: sumRate(s(M.seriesOverflow), RATE, [L.component]), legendFormat: `{{${L.component}}}` }],
      },
      {
        type: 'timeseries',
        title: 'Exporter queues',
        description: 'Batches waiting in each OTLP exporter’s sending queue.',
        unit: 'short',
        targets: [{ expr: `sum by (${L.component}) (${s(M.queueSize)})`, legendFormat: `{{${L.component}}}` }],
      },
    ],
  },
];

function fieldConfig(p: PanelSpec): unknown {
  if (p.type === 'heatmap') return { defaults: { custom: { scaleDistribution: { type: 'linear' } } }, overrides: [] };
  return {
    defaults: {
      unit: p.unit,
      ...(p.type === 'timeseries' ? { custom: { drawStyle: 'line', fillOpacity: p.stack ? 30 : 10, showPoints: 'never', stacking: { mode: p.stack ? 'normal' : 'none', group: 'A' } } } : {}),
      ...(p.type === 'stat' ? { mappings: [{ type: 'value', options: { '0': { text: 'down', color: 'red' }, '1': { text: 'up', color: 'green' } } }] } : {}),
    },
    overrides: [],
  };
}

function options(p: PanelSpec): unknown {
  if (p.type === 'heatmap') return { calculate: false, yAxis: { unit: p.unit, axisPlacement: 'left' }, color: { mode: 'scheme', scheme: 'Oranges', steps: 64 }, cellGap: 1, tooltip: { mode: 'single', yHistogram: true }, legend: { show: false } };
  if (p.type === 'stat') return { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background', graphMode: 'none' };
  return { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } };
}

export function grafanaDashboard(): Record<string, unknown> {
  const panels: Panel[] = [];
  let id = 1;
  let y = 0;
  for (const row of ROWS) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { x: 0, y: y++, w: 24, h: 1 }, panels: [] });
    let x = 0;
    for (const p of row.panels) {
      const w = p.wide ? 24 : 12;
      if (x + w > 24) {
        x = 0;
        y += 8;
      }
      panels.push({
        id: id++,
        type: p.type,
        title: p.title,
        description: p.description,
        datasource: DS,
        gridPos: { x, y, w, h: 8 },
        targets: p.targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), datasource: DS, ...t, ...(t.format ? {} : { format: 'time_series' as const }) })),
        fieldConfig: fieldConfig(p),
        options: options(p),
      } as Panel);
      x += w;
    }
    y += 8;
  }
  return {
    title: 'tcpotel: TCP connections',
    uid: 'tcpotel-tcp',
    description: 'Every TCP connection of the hosts tcpotel watches: opened, failed and active by server endpoint and program, bytes, protocols, retransmits and loss, resets, RTT and handshakes, and tcpotel itself. Generated by tcpotel (src/deploy/grafana-dashboard.ts); ratios need deploy/prometheus/tcpotel-rules.yaml.',
    tags: ['tcpotel', 'tcp', 'network', 'ebpf'],
    editable: true,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    time: { from: 'now-1h', to: 'now' },
    timezone: 'browser',
    version: 1,
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0 },
        {
          name: 'job',
          label: 'Job',
          type: 'query',
          datasource: DS,
          query: { query: `label_values(${M.eventsProduced}, job)`, refId: 'job' },
          definition: `label_values(${M.eventsProduced}, job)`,
          current: { text: JOB, value: JOB },
          refresh: 1,
          hide: 0,
        },
        {
          name: 'instance',
          label: 'Instance',
          type: 'query',
          datasource: DS,
          query: { query: `label_values(${sel(M.eventsProduced, eq('job', '$job'))}, instance)`, refId: 'instance' },
          definition: `label_values(${sel(M.eventsProduced, eq('job', '$job'))}, instance)`,
          multi: true,
          includeAll: true,
          allValue: '.*',
          current: { text: 'All', value: '$__all' },
          refresh: 2,
          hide: 0,
        },
      ],
    },
    annotations: { list: [] },
    panels,
  };
}

/** Every query of the dashboard, with its panel's title (for tests and docs). */
export function dashboardQueries(dashboard = grafanaDashboard()): Array<{ panel: string; refId: string; expr: string }> {
  const out: Array<{ panel: string; refId: string; expr: string }> = [];
  for (const p of dashboard.panels as Panel[]) for (const t of p.targets ?? []) out.push({ panel: p.title, refId: t.refId, expr: t.expr });
  const vars = (dashboard.templating as { list: Array<{ name: string; definition?: string }> }).list;
  for (const v of vars) if (v.definition) out.push({ panel: `variable ${v.name}`, refId: v.name, expr: v.definition });
  return out;
}

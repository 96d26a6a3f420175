/**
 * Text of the view: numbers for people, the summary line for pipes and logs, and the
 * live screen as lines of styled segments (the Ink app only paints them). Pure functions.
 *
 * ## The summary line (stdout not a terminal, or mode: summary)
 *
 * One line per period (by default every second), fields in this order, `key=value`
 * with raw numbers (no thousands separators) followed by their unit where they have one
 * (`B` bytes, `B/s` bytes per second, `s` seconds; counts have none), separated by one space:
 *
 *     2026-11-25T07:00:01Z conns total=12 active=3 new=2 closed=1 failed=0 tx_rate=1200000B/s rx_rate=3400000B/s retrans=0 resets=0 tx_total=5000000B rx_total=9000000B failed_total=0 retrans_total=0 resets_total=0 interval=1.00s
 *
 * - the time: end of the period, UTC, to the second; then the word `conns`;
 * - `total`: connections seen since start (open now + closed: opened, and already open at start);
 * - `active`: connections open now;
 * - `new`, `closed`, `failed`, `retrans`, `resets`: counts in the period (divide by `interval` for rates);
 * - `tx_rate`, `rx_rate`: bytes per second sent and received over the period (integers, `B/s`);
 * - `*_total`: since start (`B` for tx/rx);
 * - `interval`: seconds the period covered (two decimals, `s`).
 *
 * Fields are only ever added at the end. `grep -o 'active=[0-9]*'` and
 * `awk '{for(i=3;i<=NF;i++){split($i,kv,"=");v[kv[1]]=kv[2]+0}}'` work on it (awk's `+0`
 * drops the unit). A last line covers the final, partial period at shutdown. Human units
 * (kB, MB/s) are in the live view only.
 */
import type { ConnectionRow, Period, RecentEvent, SortKey, Totals, ViewSnapshot } from './snapshot.js';

/** Bytes for people: exact below 10 kB, else three significant digits (SI: kB, MB, GB, TB). */
export function humanBytes(n: number): string {
  const v = Math.round(n);
  if (v < 10_000) return `${v} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let x = v;
  let i = -1;
  while (x >= 1000 && i < units.length - 1) {
    x /= 1000;
    i++;
  }
  const digits = x >= 100 ? 0 : x >= 10 ? 1 : 2;
  return `${x.toFixed(digits)} ${units[i]}`;
}

/** A count per second: integers as such, else one decimal ("0.5"). */
export function humanRate(n: number): string {
  if (n >= 100) return String(Math.round(n));
  return n.toFixed(1).replace(/\.0$/, '');
}

/** 12ms, 4.2s, 45s, 3m07s, 2h05m, 3d04h. */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1) return '<1ms';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 10) return Number.isInteger(s) ? `${s}s` : `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.floor(s)}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad(Math.floor(s % 60))}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${pad(m % 60)}m`;
  return `${Math.floor(h / 24)}d${pad(h % 24)}h`;
}

/** 2026-11-25T07:00:01Z */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** 07:00:01.234 (UTC). */
export function clockTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

/** The summary line (see the top of this file). `period` may be undefined before the first one. */
export function summaryLine(totals: Totals, period: Period | undefined, endMs: number): string {
  const p = period ?? { opened: 0, closed: 0, failed: 0, tx: 0, rx: 0, retransmits: 0, resets: 0, seconds: 0 };
  const seconds = p.seconds > 0 ? p.seconds : 1;
  const fields: [string, number | string, SummaryUnit][] = [
    ['total', totals.connections, ''],
    ['active', totals.active, ''],
    ['new', p.opened, ''],
    ['closed', p.closed, ''],
    ['failed', p.failed, ''],
    ['tx_rate', Math.round(p.tx / seconds), 'B/s'],
    ['rx_rate', Math.round(p.rx / seconds), 'B/s'],
    ['retrans', p.retransmits, ''],
    ['resets', p.resets, ''],
    ['tx_total', totals.tx, 'B'],
    ['rx_total', totals.rx, 'B'],
    ['failed_total', totals.failed, ''],
    ['retrans_total', totals.retransmits, ''],
    ['resets_total', totals.resets, ''],
    ['interval', p.seconds.toFixed(2), 's'],
  ];
  return `${isoSeconds(endMs)} conns ${fields.map(([k, v, unit]) => `${k}=${v}${unit}`).join(' ')}`;
}

/** The units a summary line's values carry ('' for counts). */
export type SummaryUnit = '' | 'B' | 'B/s' | 's';

/** Parses a summary line back into its fields, numbers without their units (for tests and scripts). */
export function parseSummaryLine(line: string): { time: string; fields: Record<string, number>; units: Record<string, SummaryUnit> } | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) conns((?: [a-z_]+=[0-9.]+(?:B\/s|B|s)?)+)$/.exec(line.trim());
  if (!m) return undefined;
  const fields: Record<string, number> = {};
  const units: Record<string, SummaryUnit> = {};
  for (const kv of m[2]!.trim().split(' ')) {
    const [, k, v, unit] = /^([a-z_]+)=([0-9.]+)(.*)$/.exec(kv)!;
    fields[k!] = Number(v);
    units[k!] = unit as SummaryUnit;
  }
  return { time: m[1]!, fields, units };
}

// ---------------------------------------------------------------------------------------
// The live screen, as lines of segments.

export interface Segment {
  text: string;
  color?: 'green' | 'red' | 'yellow' | 'cyan' | 'magenta' | 'blue' | 'gray';
  bold?: boolean;
  dim?: boolean;
  inverse?: boolean;
}
export type Line = Segment[];

export interface ScreenState {
  width: number;
  height: number;
  intervalMs: number;
  /** Rows of the table wanted (config `top`); fewer when the terminal is short. */
  top: number;
  paused: boolean;
  /** The filter is being typed. */
  editing: boolean;
  /** Shown while nothing has arrived yet. */
  status: string;
  /** Spinner frame number. */
  tick: number;
}

export const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function lineText(line: Line): string {
  return line.map((s) => s.text).join('');
}

function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (text.length > width) return width <= 1 ? text.slice(0, width) : text.slice(0, width - 1) + '…';
  return align === 'left' ? text.padEnd(width) : text.padStart(width);
}

/** Cuts a line to `width` characters. */
function clip(line: Line, width: number): Line {
  const out: Line = [];
  let left = width;
  for (const s of line) {
    if (left <= 0) break;
    const text = s.text.length > left ? s.text.slice(0, left) : s.text;
    out.push({ ...s, text });
    left -= text.length;
  }
  return out;
}

interface Column {
  name: string;
  width: number;
  align: 'left' | 'right';
  /** Higher goes first when the terminal is narrow; 0 never. */
  drop: number;
  value(r: ConnectionRow, nowMs: number): string;
}

const ROW_STATE_COLOR: Record<string, Segment['color']> = { open: 'green', closed: 'gray', failed: 'red', '-': undefined };

function columns(width: number, rows: ConnectionRow[]): Column[] {
  const addressed = rows.length === 0 || rows.some((r) => r.local !== undefined || r.peer !== undefined);
  const cols: Column[] = [
    { name: 'PID', width: 7, align: 'right', drop: 0, value: (r) => (r.pid ? String(r.pid) : '-') },
    { name: 'COMMAND', width: 12, align: 'left', drop: 2, value: (r) => r.comm ?? '-' },
    ...(addressed
      ? [
          { name: 'LOCAL', width: 0, align: 'left', drop: 0, value: (r: ConnectionRow) => r.local ?? (r.overflow ? r.label : '-') },
          { name: 'PEER', width: 0, align: 'left', drop: 0, value: (r: ConnectionRow) => r.peer ?? '' },
        ]
      : [{ name: 'SERIES', width: 0, align: 'left', drop: 0, value: (r: ConnectionRow) => r.label }]),
    { name: 'STATE', width: 6, align: 'left', drop: 4, value: (r) => (r.open > 1 ? `${r.open}open` : r.state) },
    { name: 'SENT', width: 8, align: 'right', drop: 0, value: (r) => humanBytes(r.tx) },
    { name: 'RECV', width: 8, align: 'right', drop: 0, value: (r) => humanBytes(r.rx) },
    { name: 'TX/s', width: 8, align: 'right', drop: 3, value: (r) => humanBytes(r.txRate) },
    { name: 'RX/s', width: 8, align: 'right', drop: 3, value: (r) => humanBytes(r.rxRate) },
    { name: 'RETR', width: 4, align: 'right', drop: 6, value: (r) => String(r.retransmits) },
    { name: 'LOSS', width: 6, align: 'right', drop: 6, value: (r) => (r.loss === undefined ? '-' : `${(r.loss * 100).toFixed(r.loss > 0 && r.loss < 0.001 ? 3 : 1)}%`) },
    { name: 'AGE', width: 6, align: 'right', drop: 5, value: (r) => humanDuration(r.ageMs) },
  ] as Column[];
  const flex = cols.filter((c) => c.width === 0);
  const minFlex = flex.length === 1 ? 30 : 20;
  const fixedWidth = () => cols.filter((c) => c.width > 0).reduce((n, c) => n + c.width + 1, 0);
  while (fixedWidth() + flex.length * (minFlex + 1) > width) {
    const worst = cols.reduce<Column | undefined>((w, c) => (c.drop > (w?.drop ?? 0) ? c : w), undefined);
    if (!worst) break;
    cols.splice(cols.indexOf(worst), 1);
  }
  const each = Math.floor((width - fixedWidth()) / flex.length) - 1;
  for (const c of flex) c.width = Math.max(minFlex, Math.min(flex.length === 1 ? 120 : 47, each));
  return cols;
}

function sortLabel(s: SortKey): string {
  return s;
}

function recentLine(e: RecentEvent): Line {
  const who = e.pid ? `pid ${e.pid}${e.comm ? ` ${e.comm}` : ''}` : e.comm;
  return [
    { text: `${clockTime(e.timeMs)}  ` },
    { text: e.kind === 'failed' ? 'failed' : 'reset ', color: e.kind === 'failed' ? 'red' : 'yellow', bold: true },
    { text: `  ${e.local} ${e.arrow} ${e.peer}  ` },
    { text: e.kind === 'failed' ? e.reason : `${e.reason}`, color: e.kind === 'failed' ? 'red' : 'yellow' },
    { text: who ? `  ${who}` : '' },
  ];
}

/** The whole screen for a snapshot: at most `height - 1` lines of at most `width` characters. */
export function layoutScreen(snap: ViewSnapshot, ui: ScreenState): Line[] {
  const W = Math.max(40, ui.width);
  const lines: Line[] = [];
  const t = snap.totals;
  const r = snap.rates;
  const p = snap.period;

  const title = [
    ' tcpotel ',
    snap.ready ? isoSeconds(snap.nowMs).replace('T', ' ') : 'starting',
    `every ${humanDuration(ui.intervalMs)}`,
    `sort: ${sortLabel(snap.sort)}`,
    snap.filter || ui.editing ? `filter: "${snap.filter}"` : '',
    ui.paused ? 'PAUSED' : '',
  ]
    .filter(Boolean)
    .join('   ');
  lines.push([{ text: fit(title, W), inverse: true, bold: true }]);

  if (!snap.ready) {
    lines.push([{ text: `${SPINNER[ui.tick % SPINNER.length]} `, color: 'cyan' }, { text: ui.status }]);
  }

  const label = (s: string): Segment => ({ text: s.padEnd(13), bold: true });
  const kv = (k: string, v: string, color?: Segment['color']): Segment[] => [{ text: `${k} `, dim: true }, { text: v, color, bold: !!color }, { text: '   ' }];
  const rate = (n: number | undefined) => `${humanRate(n ?? 0)}/s`;
  lines.push([
    label('Totals'),
    ...kv('connections', String(t.connections)),
    ...kv('active', String(t.active), 'green'),
    ...kv('failed', String(t.failed), t.failed ? 'red' : undefined),
    ...kv('retransmits', String(t.retransmits), t.retransmits ? 'yellow' : undefined),
    ...kv('resets', String(t.resets), t.resets ? 'yellow' : undefined),
  ]);
  lines.push([label('Bytes'), ...kv('sent', `${humanBytes(t.tx)} (${t.tx} B)`), ...kv('received', `${humanBytes(t.rx)} (${t.rx} B)`)]);
  lines.push([
    label(`Last ${humanDuration(ui.intervalMs)}`),
    ...kv('new', `${p?.opened ?? 0} (${rate(r?.opened)})`),
    ...kv('closed', `${p?.closed ?? 0} (${rate(r?.closed)})`),
    ...kv('failed', `${p?.failed ?? 0} (${rate(r?.failed)})`),
    ...kv('retrans', `${p?.retransmits ?? 0} (${rate(r?.retransmits)})`),
    ...kv('resets', `${p?.resets ?? 0} (${rate(r?.resets)})`),
    ...kv('sent', `${humanBytes(r?.tx ?? 0)}/s`, 'cyan'),
    ...kv('received', `${humanBytes(r?.rx ?? 0)}/s`, 'cyan'),
  ]);
  const states = snap.states.length ? snap.states.flatMap((s) => kv(s.state, String(s.count))) : [{ text: 'not sampled yet (ebpf sample_interval)', dim: true }];
  lines.push([label('Sockets'), ...states]);
  if (snap.filtered) {
    const f = snap.filtered;
    lines.push([
      { text: 'Filter'.padEnd(13), bold: true, color: 'magenta' },
      { text: `"${snap.filter}"   `, color: 'magenta' },
      ...kv('connections', String(f.connections)),
      ...kv('open', String(f.open)),
      ...kv('sent', `${f.tx} B`),
      ...kv('received', `${f.rx} B`),
      ...kv('rate', `${humanBytes(f.txRate)}/s ${humanBytes(f.rxRate)}/s`),
      ...kv('failed', String(f.failed)),
      ...kv('retransmits', String(f.retransmits)),
      ...kv('resets', String(f.resets)),
      ...kv('series', String(f.series)),
    ]);
  }

  // What is left: the table (blank, heading, rows, a note), the recent events (blank,
  // heading, lines), the footer. The recent list gets up to a third unless the table
  // does not need the room.
  const recentAll = snap.recent;
  const wantTable = Math.min(ui.top, snap.rows.length);
  const avail = ui.height - 1 - lines.length - 1;
  let recentRows = recentAll.length ? Math.min(recentAll.length, Math.max(1, Math.floor((avail - 2) / 3))) : 0;
  const tableRows = Math.max(0, Math.min(wantTable, avail - 3 - (recentRows ? recentRows + 2 : 0)));
  if (recentAll.length) recentRows = Math.max(recentRows, Math.min(recentAll.length, avail - 3 - tableRows - 2));

  lines.push([]);
  const rows = snap.rows.slice(0, tableRows);
  const cols = columns(W, rows.length ? rows : snap.rows);
  const heading = cols.map((c) => fit(c.name + (c.name === sortColumn(snap.sort) ? '▼' : ''), c.width, c.align)).join(' ');
  lines.push([{ text: fit(heading, W), inverse: true }]);
  for (const row of rows) {
    const segs: Line = [];
    cols.forEach((c, i) => {
      const text = fit(c.value(row, snap.nowMs), c.width, c.align) + (i < cols.length - 1 ? ' ' : '');
      segs.push(c.name === 'STATE' ? { text, color: ROW_STATE_COLOR[row.state] } : { text });
    });
    lines.push(segs);
  }
  if (snap.rows.length === 0) {
    lines.push([{ text: snap.filter ? `  no connection matches "${snap.filter}"` : '  no connections yet', dim: true }]);
  } else if (rows.length < snap.rows.length) {
    const why = rows.length < wantTable ? ' (a taller terminal shows more)' : '';
    lines.push([{ text: `  … ${snap.rows.length - rows.length} more${why}`, dim: true }]);
  }
  if (recentRows) {
    lines.push([]);
    lines.push([{ text: `Recent failed connects and resets (${recentAll.length})`, bold: true }]);
    for (const e of recentAll.slice(0, recentRows)) lines.push(recentLine(e));
  }

  const footer: Line = ui.editing
    ? [{ text: ' filter: ', inverse: true }, { text: `${snap.filter}█`, color: 'magenta' }, { text: '   enter keeps it, esc clears it', dim: true }]
    : [
        { text: ' q', bold: true },
        { text: ' quit  ', dim: true },
        { text: 'p', bold: true },
        { text: ui.paused ? ' resume  ' : ' pause  ', dim: true },
        { text: '/', bold: true },
        { text: ' filter  ', dim: true },
        { text: 'esc', bold: true },
        { text: ' clear filter  ', dim: true },
        { text: 's', bold: true },
        { text: ' next sort  ', dim: true },
        { text: 'b r a l', bold: true },
        { text: ' sort by bytes, rate, age, loss', dim: true },
      ];
  const maxBody = Math.max(1, ui.height - 2);
  const body = lines.slice(0, maxBody);
  return [...body, footer].map((l) => clip(l, W));
}

function sortColumn(s: SortKey): string {
  return s === 'bytes' ? 'SENT' : s === 'rate' ? 'TX/s' : s === 'loss' ? 'LOSS' : 'AGE';
}

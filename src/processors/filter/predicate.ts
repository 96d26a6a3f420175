/**
 * A filter config compiled once into one predicate over events: port lists to bitmaps,
 * CIDRs to masks, globs to one RegExp, lists of ids to sets. Evaluating it allocates
 * nothing.
 */
import type { TcpEvent } from '../../core/events.js';
import { ATTR, connectionState } from '../../semconv/attributes.js';
import { cidrMatcher, parseCidr, type Cidr } from './cidr.js';
import type { Condition, FilterConfig } from './config.js';
import { globToRegExp } from './glob.js';
import { portBitmap } from './ports.js';

export type EventPredicate = (ev: TcpEvent) => boolean;

function cidrs(list: readonly string[]): Cidr[] {
  return list.map((c) => {
    const parsed = parseCidr(c);
    if (!parsed) throw new Error(`"${c}" is not a valid CIDR`);
    return parsed;
  });
}

function and(tests: EventPredicate[]): EventPredicate {
  if (tests.length === 1) return tests[0]!;
  if (tests.length === 2) {
    const [a, b] = tests as [EventPredicate, EventPredicate];
    return (ev) => a(ev) && b(ev);
  }
  return (ev) => {
    for (let i = 0; i < tests.length; i++) if (!tests[i]!(ev)) return false;
    return true;
  };
}

function or(tests: EventPredicate[]): EventPredicate {
  if (tests.length === 1) return tests[0]!;
  return (ev) => {
    for (let i = 0; i < tests.length; i++) if (tests[i]!(ev)) return true;
    return false;
  };
}

function stringAttribute(ev: TcpEvent, key: string): string | undefined {
  const v = ev.attributes?.[key];
  return typeof v === 'string' ? v : undefined;
}

/** One condition (field matchers and combinators, all of which must match) to a predicate. */
export function compileCondition(c: Condition): EventPredicate {
  const tests: EventPredicate[] = [];
  if (c.kinds) {
    const set = new Set<string>(c.kinds);
    tests.push((ev) => set.has(ev.kind));
  }
  if (c.directions) {
    const set = new Set<string>(c.directions);
    tests.push((ev) => set.has(ev.direction));
  }
  if (c.families) {
    const v4 = c.families.includes('ipv4');
    const v6 = c.families.includes('ipv6');
    if (!(v4 && v6)) tests.push(v4 ? (ev) => ev.family === 4 : (ev) => ev.family === 6);
  }
  if (c.local_ports) {
    const map = portBitmap(c.local_ports);
    tests.push((ev) => map[ev.localPort] === 1);
  }
  if (c.remote_ports) {
    const map = portBitmap(c.remote_ports);
    tests.push((ev) => map[ev.remotePort] === 1);
  }
  if (c.ports) {
    const map = portBitmap(c.ports);
    tests.push((ev) => map[ev.localPort] === 1 || map[ev.remotePort] === 1);
  }
  if (c.local_cidrs) {
    const match = cidrMatcher(cidrs(c.local_cidrs));
    tests.push((ev) => match(ev.localAddress));
  }
  if (c.remote_cidrs) {
    const match = cidrMatcher(cidrs(c.remote_cidrs));
    tests.push((ev) => match(ev.remoteAddress));
  }
  if (c.pids) {
    const set = new Set(c.pids);
    tests.push((ev) => set.has(ev.pid));
  }
  if (c.comms) {
    const re = globToRegExp(c.comms);
    tests.push((ev) => re.test(ev.comm));
  }
  if (c.comm_regex !== undefined) {
    const re = new RegExp(c.comm_regex);
    tests.push((ev) => re.test(ev.comm));
  }
  if (c.executables) {
    const re = globToRegExp(c.executables);
    tests.push((ev) => re.test(stringAttribute(ev, ATTR.processExecutablePath) ?? ev.comm));
  }
  if (c.cgroup_ids) {
    const set = new Set(c.cgroup_ids);
    tests.push((ev) => set.has(ev.cgroupId));
  }
  if (c.container_ids) {
    const full = new Set(c.container_ids);
    const prefixes = c.container_ids.filter((id) => id.length >= 12);
    tests.push((ev) => {
      const id = stringAttribute(ev, ATTR.containerId);
      if (id === undefined) return false;
      if (full.has(id)) return true;
      for (let i = 0; i < prefixes.length; i++) if (id.startsWith(prefixes[i]!)) return true;
      return false;
    });
  }
  if (c.states) {
    const set = new Set<string>(c.states);
    tests.push((ev) => set.has(connectionState(ev)));
  }
  if (c.all) tests.push(and(c.all.map(compileCondition)));
  if (c.any) tests.push(or(c.any.map(compileCondition)));
  if (c.not) {
    const inner = compileCondition(c.not);
    tests.push((ev) => !inner(ev));
  }
  // The schema rejects empty conditions; an empty one here would match everything.
  return tests.length ? and(tests) : () => true;
}

/** The whole filter: kept when it matches include (if given) and not exclude (if given). */
export function filterPredicate(config: FilterConfig): EventPredicate | undefined {
  const inc = config.include ? compileCondition(config.include) : undefined;
  const exc = config.exclude ? compileCondition(config.exclude) : undefined;
  if (inc && exc) return (ev) => inc(ev) && !exc(ev);
  if (inc) return inc;
  if (exc) return (ev) => !exc(ev);
  return undefined;
}

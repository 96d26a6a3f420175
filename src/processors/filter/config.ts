import { z } from 'zod';
import { CONNECTION_STATES, EVENT_KINDS, type ConnectionState, type Direction, type EventKind } from '../../core/events.js';

import { parseCidr } from './cidr.js';
import { parsePortSpec } from './ports.js';

export type PortSpec = number | string;

/** Keys that test one property of an event; several in one object must all match. */
export interface FieldMatcher {
  kinds?: EventKind[];
  directions?: Direction[];
  families?: ('ipv4' | 'ipv6')[];
  local_ports?: PortSpec[];
  remote_ports?: PortSpec[];
  /** Either end. */
  ports?: PortSpec[];
  local_cidrs?: string[];
  remote_cidrs?: string[];
  pids?: number[];
  /** Globs (`*`, `?`) against the thread name the kernel reported. */
  comms?: string[];
  /** A regular expression searched in comm (unanchored: use ^...$ to match it whole). */
  comm_regex?: string;
  /** Globs against process.executable.path (from the process processor), else comm. */
  executables?: string[];
  cgroup_ids?: number[];
  /** Full container ids, or prefixes of at least 12 characters (Docker's short ids). */
  container_ids?: string[];
  states?: ConnectionState[];
}

/** A field matcher, combinators, or both (everything given must match). */
export interface Condition extends FieldMatcher {
  all?: Condition[];
  any?: Condition[];
  not?: Condition;
}

export const FIELD_KEYS = [
  'kinds',
  'directions',
  'families',
  'local_ports',
  'remote_ports',
  'ports',
  'local_cidrs',
  'remote_cidrs',
  'pids',
  'comms',
  'comm_regex',
  'executables',
  'cgroup_ids',
  'container_ids',
  'states',
] as const;

const nonEmpty = <T extends z.ZodType>(item: T, key: string) =>
  z.array(item).min(1, { message: `${key} must list at least one value (leave the key out to match any)` }).optional();

const portSpec = z.unknown().transform((v, ctx) => {
  const r = parsePortSpec(v);
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: r });
    return z.NEVER;
  }
  return v as PortSpec;
});

const cidr = z.string().superRefine((v, ctx) => {
  if (!parseCidr(v)) ctx.addIssue({ code: 'custom', message: `"${v}" is not a valid CIDR (write e.g. 10.0.0.0/8, 192.168.1.7, fd00::/8, ::1/128)` });
});

const regex = z.string().superRefine((v, ctx) => {
  try {
    new RegExp(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a valid regular expression: ${(err as Error).message}` });
  }
});

const id = z.number().int().nonnegative();

const CONDITION_KEYS = [...FIELD_KEYS, 'all', 'any', 'not'];

export const conditionSchema: z.ZodType<Condition, unknown> = z.lazy(() =>
  z
    .unknown()
    .superRefine((v, ctx) => {
      if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `a condition cannot be empty: give at least one of ${CONDITION_KEYS.join(', ')}`,
        });
      }
    })
    .pipe(
      z.strictObject({
        kinds: nonEmpty(z.enum(EVENT_KINDS as [EventKind, ...EventKind[]]), 'kinds'),
        directions: nonEmpty(z.enum(['outbound', 'inbound', 'unknown']), 'directions'),
        families: nonEmpty(z.enum(['ipv4', 'ipv6']), 'families'),
        local_ports: nonEmpty(portSpec, 'local_ports'),
        remote_ports: nonEmpty(portSpec, 'remote_ports'),
        ports: nonEmpty(portSpec, 'ports'),
        local_cidrs: nonEmpty(cidr, 'local_cidrs'),
        remote_cidrs: nonEmpty(cidr, 'remote_cidrs'),
        pids: nonEmpty(id, 'pids'),
        comms: nonEmpty(z.string().min(1, { message: 'a comm pattern cannot be empty' }), 'comms'),
        comm_regex: regex.optional(),
        executables: nonEmpty(z.string().min(1, { message: 'an executable pattern cannot be empty' }), 'executables'),
        cgroup_ids: nonEmpty(id, 'cgroup_ids'),
        container_ids: nonEmpty(z.string().min(1, { message: 'a container id cannot be empty' }), 'container_ids'),
        states: nonEmpty(z.enum(CONNECTION_STATES), 'states'),
        all: z.array(conditionSchema).min(1, { message: 'all needs at least one condition' }).optional(),
        any: z.array(conditionSchema).min(1, { message: 'any needs at least one condition' }).optional(),
        not: conditionSchema.optional(),
      }),
    ),
);

export const filterConfigSchema = z.strictObject({
  /** Keep only events that match (when given). */
  include: conditionSchema.optional(),
  /** Then drop events that match (when given). */
  exclude: conditionSchema.optional(),
});

export type FilterConfig = z.output<typeof filterConfigSchema>;

export function defaultFilterConfig() {
  return {};
}

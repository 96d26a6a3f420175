/**
 * Validates a loaded config against the component registry and resolves it: each
 * component's defaults with the user's values merged over them, checked by its schema;
 * pipelines checked for dangling references and type mismatches. Reports every error at
 * once, each with its path and position.
 */
import { LOG_LEVELS } from '../core/logger.js';
import { z } from 'zod';
import type {
  AnyFactory,
  BatchType,
  ExporterFactory,
  ExtensionFactory,
  ProcessorFactory,
  ReceiverFactory,
  Signal,
} from '../core/component.js';
import { parseComponentId } from '../core/component.js';
import { ConfigError, suggestion, type ConfigIssue } from './errors.js';
import { deepMerge, displayPath, isPlainObject, loadConfigFiles, locate, type LoadedConfig, type LoadOptions, type YamlPath } from './load.js';
import { byteSize, crossCheck, duration, endpointPort } from './units.js';
import { ATTR, PROCESS_ATTRS } from '../semconv/attributes.js';

export interface Registry {
  receivers: ReadonlyMap<string, ReceiverFactory>;
  processors: ReadonlyMap<string, ProcessorFactory>;
  exporters: ReadonlyMap<string, ExporterFactory>;
  extensions: ReadonlyMap<string, ExtensionFactory>;
}

export interface ResolvedComponent<F extends AnyFactory = AnyFactory> {
  id: string;
  type: string;
  kind: AnyFactory['kind'];
  factory: F;
  /** The parsed config (units converted). */
  config: unknown;
}

export interface ResolvedPipeline {
  id: string;
  signal: Signal;
  receivers: string[];
  processors: string[];
  exporters: string[];
}

export interface TelemetrySettings {
  logs: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
  metrics: {
    /** Add tcpotel's own metrics (in, out and dropped counts) to every metrics export. */
    include_in_pipelines: boolean;
  };
}

export interface ResolvedConfig {
  receivers: Map<string, ResolvedComponent<ReceiverFactory>>;
  processors: Map<string, ResolvedComponent<ProcessorFactory>>;
  exporters: Map<string, ResolvedComponent<ExporterFactory>>;
  extensions: Map<string, ResolvedComponent<ExtensionFactory>>;
  /** service::extensions: the extensions that run, in order. */
  serviceExtensions: string[];
  pipelines: ResolvedPipeline[];
  telemetry: TelemetrySettings;
  /** service::user: drop root for this user once attached. */
  user?: string;
  /** service::shutdown_timeout: how long a shutdown may take before unsent data is dropped. */
  shutdownTimeoutMs: number;
  /** service::memory_limit. */
  memoryLimit: MemoryLimitSettings;
  /** Not errors: components configured but used by no pipeline, and the like. */
  warnings: string[];
}

/** The sections pipelines name components of. */
const SECTIONS = ['receivers', 'processors', 'exporters'] as const;
/** Every section of components: extensions run beside the pipelines (service::extensions). */
const COMPONENT_SECTIONS = [...SECTIONS, 'extensions'] as const;
type Section = (typeof COMPONENT_SECTIONS)[number];
const TOP_LEVEL = [...COMPONENT_SECTIONS, 'service'];
const SIGNALS: Signal[] = ['logs', 'metrics'];
const ID_RE = /^[a-z][a-z0-9_]*(\/[A-Za-z0-9_.-]+)?$/;

const telemetrySchema = z.strictObject({
  logs: z.strictObject({ level: z.enum(LOG_LEVELS) }),
  metrics: z.strictObject({ include_in_pipelines: z.boolean() }),
});
const defaultTelemetry = { logs: { level: 'info' }, metrics: { include_in_pipelines: true } };

/** service::memory_limit, after the Collector's memory_limiter. */
export const memoryLimitSchema = z.strictObject({
  /** Resident memory (RSS) above which new data is shed, counted; 0: no RSS limit. */
  limit: byteSize({ max: 1024 ** 4 }),
  /** Shedding starts at limit - spike_limit and stops below it; 0: 20% of limit. */
  spike_limit: byteSize({ max: 1024 ** 4 }),
  /** Shed also when V8's heap is this full (percent of its limit): before V8 gives up. */
  max_heap_percent: z.number().int().min(10).max(95),
  /** How often memory is looked at. */
  check_interval: duration({ min: 100, max: 60_000 }),
}).superRefine(crossCheck('spike_limit', (c) => c.limit > 0 && c.spike_limit >= c.limit, 'spike_limit must be less than limit'));
export type MemoryLimitSettings = z.output<typeof memoryLimitSchema>;
export function defaultMemoryLimit() {
  return { limit: 0, spike_limit: 0, max_heap_percent: 85, check_interval: '1s' };
}
export const DEFAULT_SHUTDOWN_TIMEOUT = '10s';
const shutdownTimeoutSchema = duration({ min: 100, max: 600_000 });

const pipelineSchema = z.strictObject({
  receivers: z.array(z.string()).min(1, { message: 'a pipeline needs at least one receiver' }),
  processors: z.array(z.string()).optional(),
  exporters: z.array(z.string()).min(1, { message: 'a pipeline needs at least one exporter' }),
});

const serviceSchema = z.strictObject({
  pipelines: z.record(z.string(), z.unknown()),
  /** Extensions to run, by id (configured under extensions:). */
  extensions: z.array(z.string()).optional(),
  telemetry: z.unknown().optional(),
  /** Once every receiver is attached, continue as this unprivileged user. */
  user: z.string().min(1).optional(),
  /** After this long, a shutdown stops waiting: what is unsent is counted as dropped. */
  shutdown_timeout: shutdownTimeoutSchema.optional(),
  memory_limit: z.unknown().optional(),
});


/** Turns zod issues into config issues under `base`, with "did you mean" for unknown keys. */
function zodIssues(error: z.ZodError, base: YamlPath, defaults: unknown, loaded: LoadedConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const rel = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)) as (string | number)[];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(defaults, rel);
      for (const key of issue.keys) {
        const path = [...base, ...rel, key];
        out.push({ path: displayPath(path), message: `unknown key "${key}"${suggestion(key, known)}${known.length ? ` (known: ${known.join(', ')})` : ''}`, ...locate(loaded.sources, path) });
      }
      continue;
    }
    const path = [...base, ...rel];
    out.push({ path: displayPath(path), message: readable(issue), ...locate(loaded.sources, path) });
  }
  return out;
}

function readable(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_union') {
    // "'' or a duration": the branch that understood the value says what is wrong with it.
    const branches = (issue as { errors?: z.core.$ZodIssue[][] }).errors ?? [];
    const specific = branches.find((b) => b.length > 0 && b.every((i) => i.code === 'custom'));
    if (specific) return specific[0]!.message;
  }
  if (issue.code === 'invalid_type') {
    const received = (issue as { input?: unknown }).input;
    const got = received === undefined ? 'nothing' : received === null ? 'null' : Array.isArray(received) ? 'a list' : typeof received;
    return `expected ${issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`}, got ${got}`;
  }
  if (issue.code === 'invalid_value' && 'values' in issue) {
    const values = issue.values as unknown[];
    const input = (issue as { input?: unknown }).input;
    const list = values.map((v) => JSON.stringify(v)).join(', ');
    if (typeof input !== 'string') return `must be one of: ${list}`;
    return `"${input}" is not one of ${list}${suggestion(input, values.filter((v): v is string => typeof v === 'string'))}`;
  }
  return issue.message;
}

function knownKeys(defaults: unknown, path: (string | number)[]): string[] {
  let cur: unknown = defaults;
  for (const p of path) {
    if (isPlainObject(cur)) cur = cur[String(p)];
    else if (Array.isArray(cur)) cur = cur[0];
    else return [];
  }
  return isPlainObject(cur) ? Object.keys(cur) : [];
}

function factoriesOf(registry: Registry, section: Section): ReadonlyMap<string, AnyFactory> {
  return registry[section] as ReadonlyMap<string, AnyFactory>;
}

const SINGULAR: Record<Section, string> = { receivers: 'receiver', processors: 'processor', exporters: 'exporter', extensions: 'extension' };

/** Validates and resolves; throws ConfigError with every issue. */
export function resolveConfig(loaded: LoadedConfig, registry: Registry): ResolvedConfig {
  const issues: ConfigIssue[] = [...loaded.issues];
  const warnings: string[] = [];
  const at = (path: YamlPath, message: string) => issues.push({ path: displayPath(path), message, ...locate(loaded.sources, path) });
  const root = loaded.value;
  const resolved: ResolvedConfig = {
    receivers: new Map(),
    processors: new Map(),
    exporters: new Map(),
    extensions: new Map(),
    serviceExtensions: [],
    pipelines: [],
    telemetry: telemetrySchema.parse(defaultTelemetry) as TelemetrySettings,
    shutdownTimeoutMs: shutdownTimeoutSchema.parse(DEFAULT_SHUTDOWN_TIMEOUT),
    memoryLimit: memoryLimitSchema.parse(defaultMemoryLimit()),
    warnings,
  };
  if (issues.length) throw new ConfigError(issues);

  for (const key of Object.keys(root)) {
    if (TOP_LEVEL.includes(key)) continue;
    if (key === 'connectors') at([key], `"${key}" is not supported by tcpotel`);
    else at([key], `unknown top-level key "${key}"${suggestion(key, TOP_LEVEL)} (known: ${TOP_LEVEL.join(', ')})`);
  }

  for (const section of COMPONENT_SECTIONS) {
    const raw = root[section];
    if (raw === undefined || raw === null) continue;
    if (!isPlainObject(raw)) {
      at([section], `expected a mapping of ${SINGULAR[section]} ids to their configs`);
      continue;
    }
    const factories = factoriesOf(registry, section);
    for (const [id, userConfig] of Object.entries(raw)) {
      const path = [section, id];
      if (!ID_RE.test(id)) {
        at(path, `"${id}" is not a valid component id: write type or type/name (e.g. aggregate/flows)`);
        continue;
      }
      const { type } = parseComponentId(id);
      const factory = factories.get(type);
      if (!factory) {
        const known = [...factories.keys()];
        at(path, `unknown ${SINGULAR[section]} type "${type}"${suggestion(type, known)} (known: ${known.join(', ')})`);
        continue;
      }
      if (userConfig !== null && userConfig !== undefined && !isPlainObject(userConfig)) {
        at(path, `expected a mapping (the ${SINGULAR[section]}'s settings) or nothing for the defaults`);
        continue;
      }
      const defaults = factory.createDefaultConfig();
      const merged = userConfig ? deepMerge(defaults as Record<string, unknown>, userConfig) : defaults;
      const parsed = factory.schema.safeParse(merged, { reportInput: true });
      if (!parsed.success) {
        issues.push(...zodIssues(parsed.error, path, defaults, loaded));
        continue;
      }
      issues.push(...endpointIssues(parsed.data, path, loaded));
      const entry = { id, type, kind: factory.kind, factory, config: parsed.data } as ResolvedComponent<never>;
      (resolved[section] as Map<string, ResolvedComponent>).set(id, entry);
    }
  }

  const service = root.service;
  if (service === undefined || service === null) {
    at([], 'no "service" section: add service: pipelines: with at least one pipeline');
  } else {
    const s = serviceSchema.safeParse(service, { reportInput: true });
    if (!s.success) {
      issues.push(...zodIssues(s.error, ['service'], { pipelines: {}, extensions: [], telemetry: {}, user: '', shutdown_timeout: '', memory_limit: {} }, loaded));
    } else {
      if (s.data.telemetry !== undefined) {
        const t = telemetrySchema.safeParse(deepMerge(defaultTelemetry, (s.data.telemetry ?? {}) as Record<string, unknown>), { reportInput: true });
        if (!t.success) issues.push(...zodIssues(t.error, ['service', 'telemetry'], defaultTelemetry, loaded));
        else resolved.telemetry = t.data as TelemetrySettings;
      }
      resolved.user = s.data.user;
      if (s.data.shutdown_timeout !== undefined) resolved.shutdownTimeoutMs = s.data.shutdown_timeout;
      if (s.data.memory_limit !== undefined) {
        const m = memoryLimitSchema.safeParse(deepMerge(defaultMemoryLimit(), (s.data.memory_limit ?? {}) as Record<string, unknown>), { reportInput: true });
        if (!m.success) issues.push(...zodIssues(m.error, ['service', 'memory_limit'], defaultMemoryLimit(), loaded));
        else resolved.memoryLimit = m.data;
      }
      resolveServiceExtensions(s.data.extensions ?? [], resolved, root, at);
      const pipelines = s.data.pipelines;
      if (Object.keys(pipelines).length === 0) at(['service', 'pipelines'], 'no pipelines: define at least one (e.g. metrics: or logs:)');
      for (const [pid, rawPipeline] of Object.entries(pipelines)) {
        resolvePipeline(pid, rawPipeline, resolved, registry, root, at, loaded, issues);
      }
    }
  }

  if (issues.length) throw new ConfigError(dedupe(issues));

  for (const section of SECTIONS) {
    for (const id of resolved[section].keys()) {
      const used = resolved.pipelines.some((p) => (p[section] as string[]).includes(id));
      if (!used) warnings.push(`${SINGULAR[section]} "${id}" is configured but no pipeline uses it`);
    }
  }
  for (const id of resolved.extensions.keys()) {
    if (!resolved.serviceExtensions.includes(id)) warnings.push(`extension "${id}" is configured but not listed in service::extensions, so it does not run`);
  }
  return resolved;
}

/** service::extensions: each a configured extension, once. */
function resolveServiceExtensions(list: string[], resolved: ResolvedConfig, root: Record<string, unknown>, at: (path: YamlPath, message: string) => void): void {
  const configuredRaw = root.extensions;
  const configured = isPlainObject(configuredRaw) ? Object.keys(configuredRaw) : [];
  list.forEach((ref, i) => {
    const path = ['service', 'extensions', i];
    if (resolved.serviceExtensions.includes(ref)) {
      at(path, `"${ref}" is listed twice`);
      return;
    }
    if (resolved.extensions.has(ref)) {
      resolved.serviceExtensions.push(ref);
      return;
    }
    if (configured.includes(ref)) return; // configured but invalid: already reported
    const hint = suggestion(ref, configured);
    at(path, `references extension "${ref}" which is not configured${hint}${!hint ? ' (add it under extensions:)' : ''}`);
  });
}

function resolvePipeline(
  pid: string,
  raw: unknown,
  resolved: ResolvedConfig,
  registry: Registry,
  root: Record<string, unknown>,
  at: (path: YamlPath, message: string) => void,
  loaded: LoadedConfig,
  issues: ConfigIssue[],
): void {
  const base = ['service', 'pipelines', pid];
  const { type: signalName } = parseComponentId(pid);
  if (!ID_RE.test(pid)) {
    at(base, `"${pid}" is not a valid pipeline id: write logs, metrics, or logs/name, metrics/name`);
    return;
  }
  if (!SIGNALS.includes(signalName as Signal)) {
    const hint = signalName === 'traces' ? ': tcpotel produces metrics and logs, not traces' : suggestion(signalName, SIGNALS);
    at(base, `unknown pipeline type "${signalName}"${hint} (known: ${SIGNALS.join(', ')})`);
    return;
  }
  const signal = signalName as Signal;
  if (raw === null || raw === undefined) {
    at(base, 'the pipeline is empty: it needs receivers: and exporters:');
    return;
  }
  const p = pipelineSchema.safeParse(raw, { reportInput: true });
  if (!p.success) {
    issues.push(...zodIssues(p.error, base, { receivers: [], processors: [], exporters: [] }, loaded));
    return;
  }
  const pipeline: ResolvedPipeline = { id: pid, signal, receivers: p.data.receivers, processors: p.data.processors ?? [], exporters: p.data.exporters };
  let ok = true;
  for (const section of SECTIONS) {
    const list = pipeline[section] as string[];
    const seen = new Set<string>();
    list.forEach((ref, i) => {
      const path = [...base, section, i];
      if (seen.has(ref)) {
        at(path, `"${ref}" is listed twice`);
        ok = false;
      }
      seen.add(ref);
      if (resolved[section].has(ref)) return;
      ok = false;
      const configuredRaw = root[section];
      const configured = isPlainObject(configuredRaw) ? Object.keys(configuredRaw) : [];
      if (configured.includes(ref)) return; // it is configured but invalid: already reported
      const { type } = parseComponentId(ref);
      const exists = factoriesOf(registry, section).has(type);
      const hint = suggestion(ref, configured);
      at(path, `references ${SINGULAR[section]} "${ref}" which is not configured${hint}${!hint && exists ? ` (add it under ${section}:)` : ''}`);
    });
  }
  if (!ok) {
    // Still check what the processors read, when they are all valid: every error at once.
    if (pipeline.processors.every((ref) => resolved.processors.has(ref))) checkAttributes(pipeline, resolved, registry, at, resolved.warnings);
    return;
  }

  // Batch types through the processor chain.
  let current = 'events' as BatchType;
  for (const [i, ref] of pipeline.processors.entries()) {
    const f = resolved.processors.get(ref)!.factory;
    if (!f.accepts.includes(current)) {
      at([...base, 'processors', i], `processor "${ref}" takes ${f.accepts.join(' or ')}, but gets ${current === 'events' ? 'connection events' : 'metrics'} here${current === 'metrics' ? ' (put it before aggregate)' : ''}`);
      return;
    }
    current = f.output(current);
  }
  if (signal === 'metrics' && current !== 'metrics') {
    at([...base, 'processors'], 'a metrics pipeline needs an aggregate processor: it turns connection events into metrics (add "aggregate" to processors and configure it)');
    return;
  }
  if (signal === 'logs' && current !== 'events') {
    at([...base, 'processors'], 'a logs pipeline carries connection events: aggregate produces metrics, use it in a metrics pipeline');
    return;
  }
  checkAttributes(pipeline, resolved, registry, at, resolved.warnings);
  pipeline.exporters.forEach((ref, i) => {
    const f = resolved.exporters.get(ref)!.factory;
    if (!f.signals.includes(signal)) {
      at([...base, 'exporters', i], `exporter "${ref}" does not export ${signal} (it exports ${f.signals.join(', ')})`);
      ok = false;
    }
  });
  if (ok) resolved.pipelines.push(pipeline);
}

/**
 * Every `endpoint` or `*_endpoint` of a component whose port is not a port: "host:99999"
 * would otherwise pass until the first connect or listen. Port 0 is left to the component
 * (it means "any free port" where tcpotel listens).
 */
function endpointIssues(config: unknown, base: YamlPath, loaded: LoadedConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  if (!isPlainObject(config)) return out;
  for (const [key, v] of Object.entries(config)) {
    if (typeof v !== 'string' || !(key === 'endpoint' || key.endsWith('_endpoint'))) continue;
    const port = endpointPort(v);
    if (port === undefined || (port >= 0 && port <= 65535)) continue;
    const path = [...base, key];
    out.push({ path: displayPath(path), message: `"${v}": ${Number.isNaN(port) ? 'the port is not a number' : `port ${port} is out of range`}: ports go from 1 to 65535`, ...locate(loaded.sources, path) });
  }
  return out;
}

/** A processor used by several pipelines is checked in each: report each problem once. */
function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.file}:${i.line}:${i.column}:${i.path}:${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** What every event carries (processors set the rest). */
const EVENT_ATTRIBUTES: ReadonlySet<string> = new Set(Object.values(ATTR).filter((a) => !PROCESS_ATTRS.includes(a)));

/**
 * Attribute names processors read (aggregate keys): each must be one the events carry or a
 * processor before it sets. A known attribute that only a processor missing from the
 * pipeline sets is a warning (every event lacks it); any other name is an error.
 */
function checkAttributes(
  pipeline: ResolvedPipeline,
  resolved: ResolvedConfig,
  registry: Registry,
  at: (path: YamlPath, message: string) => void,
  warnings: string[],
): void {
  const available = new Set(EVENT_ATTRIBUTES);
  const everyName = new Set<string>(Object.values(ATTR));
  for (const ref of pipeline.processors) {
    const { factory, config } = resolved.processors.get(ref)!;
    for (const need of factory.readsAttributes?.(config) ?? []) {
      if (available.has(need.name)) continue;
      const path = ['processors', ref, ...need.path];
      if (everyName.has(need.name)) {
        const setters = [...registry.processors.values()].filter((f) => f.setsAttributes?.(f.schema.parse(f.createDefaultConfig())).includes(need.name)).map((f) => f.type);
        const by = setters.length ? `only the ${setters.map((t) => `"${t}"`).join(' or ')} processor sets it` : 'a processor sets it';
        const warning = `${displayPath(path)}: "${need.name}" is missing from every event of pipeline ${pipeline.id}: ${by}, and none comes before "${ref}"`;
        if (!warnings.includes(warning)) warnings.push(warning);
        continue;
      }
      const alternatives = need.alternatives ?? [];
      const hint = suggestion(need.name, [...alternatives, ...available]);
      at(path, `unknown attribute "${need.name}"${hint} (write ${alternatives.length ? `a preset (${alternatives.join(', ')}) or ` : ''}an attribute of the events, see docs/reference.md#attributes)`);
    }
    for (const a of factory.setsAttributes?.(config) ?? []) available.add(a);
  }
}

/** Loads files and resolves them in one step. */
export function loadAndResolve(files: string[], registry: Registry, env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): ResolvedConfig {
  return resolveConfig(loadConfigFiles(files, env, opts), registry);
}

/**
 * `tcpotel top`: the live view alone, without a config file. The pipelines are built here:
 *
 *   metrics: ebpf -> aggregate (the interval; keys five_tuple, process.pid, process.executable.name) -> view
 *   logs:    ebpf -> filter (failed and reset events) -> view
 *
 * and `defaultConfigFiles()` is what `tcpotel run` uses without --config.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { defaultRegistry } from '../components.js';
import { parseConfigText } from '../config/load.js';
import { resolveConfig, type ResolvedConfig } from '../config/validate.js';
import { parseDuration } from '../config/units.js';
import { ConfigError } from '../config/errors.js';
import { UserFacingError } from '../core/errors.js';
import { createLogger, LOG_LEVELS } from '../core/logger.js';
import { packageRoot } from '../core/paths.js';
import { setViewStatus } from '../exporters/view/hub.js';
import { runService } from '../pipeline/run.js';
import { ATTR } from '../semconv/attributes.js';

/**
 * The configs `tcpotel run` merges when no --config is given: pipelines/default.yaml, and
 * pipelines/otlp-overlay.yaml over it when OTEL_EXPORTER_OTLP_ENDPOINT is set.
 */
export function defaultConfigFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const dir = join(packageRoot(), 'pipelines');
  const files = [join(dir, 'default.yaml')];
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) files.push(join(dir, 'otlp-overlay.yaml'));
  for (const f of files) {
    if (!existsSync(f)) throw new UserFacingError(`the default config ${f} is missing`, 'pass --config FILE', 2);
  }
  return files;
}

export interface TopOptions {
  interval: string;
  top: string;
  port?: string[];
  summary?: boolean;
  logLevel: string;
}

/** The config `tcpotel top` runs, as a plain object (validated like a YAML file). */
export function topConfig(opts: { intervalMs: number; top: number; ports: number[]; summary: boolean }): Record<string, unknown> {
  // Live byte counters of open connections: read each interval, but not more than twice a second.
  const sample = Math.max(opts.intervalMs, 500);
  return {
    receivers: {
      ebpf: {
        sample_interval: sample,
        filter: { ports: opts.ports },
      },
    },
    processors: {
      aggregate: { interval: opts.intervalMs, keys: ['five_tuple', ATTR.processPid, ATTR.processExecutableName] },
      'filter/failures': { include: { kinds: ['failed', 'reset'] } },
    },
    exporters: {
      view: { interval: opts.intervalMs, top: opts.top, mode: opts.summary ? 'summary' : 'auto' },
    },
    service: {
      pipelines: {
        metrics: { receivers: ['ebpf'], processors: ['aggregate'], exporters: ['view'] },
        logs: { receivers: ['ebpf'], processors: ['filter/failures'], exporters: ['view'] },
      },
    },
  };
}

/** Validates the options and resolves the config. */
export function resolveTopConfig(opts: TopOptions): ResolvedConfig {
  const intervalMs = parseDuration(opts.interval);
  if (intervalMs === undefined || intervalMs < 100) throw new UserFacingError(`--interval: "${opts.interval}" is not a duration of at least 100ms`, 'write e.g. 1s, 500ms, 2s', 2);
  const top = Number(opts.top);
  if (!Number.isInteger(top) || top < 1 || top > 1000) throw new UserFacingError(`--top: "${opts.top}" is not a number from 1 to 1000`, undefined, 2);
  const ports = (opts.port ?? []).flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean);
  const numbers = ports.map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > 65535) throw new UserFacingError(`--port: "${p}" is not a port number (1-65535)`, undefined, 2);
    return n;
  });
  if (numbers.length > 16) throw new UserFacingError('--port: at most 16 ports can be filtered in the kernel', undefined, 2);
  const text = stringify(topConfig({ intervalMs, top, ports: numbers, summary: opts.summary === true }));
  const { source, issues } = parseConfigText('(tcpotel top)', text);
  if (issues.length) throw new ConfigError(issues);
  return resolveConfig({ value: source.doc.toJS() as Record<string, unknown>, sources: [source], issues: [] }, defaultRegistry());
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Adds `top` to the program. */
export function registerTop(program: Command): Command {
  return program
    .command('top')
    .description('live view of every TCP connection on this host (no config needed): totals, rates, socket states, top connections, failures')
    .option('-i, --interval <duration>', 'refresh interval (and metric window)', '1s')
    .option('-n, --top <N>', 'connections listed (fewer if the terminal is short)', '20')
    .option('-p, --port <port>', 'only connections on this port, filtered in the kernel; repeat for several (at most 16)', collect)
    .option('--summary', 'print one summary line per interval instead of the live view (the default when stdout is not a terminal)')
    .addOption(new Option('--log-level <level>', 'log level (logs go to stderr)').choices([...LOG_LEVELS]).default('warn'))
    .action(async (opts: TopOptions) => {
      const resolved = resolveTopConfig(opts);
      const logger = createLogger(opts.logLevel as 'warn');
      const summary = opts.summary === true || !process.stdout.isTTY;
      const progress = (text: string) => {
        setViewStatus(text);
        if (summary) process.stderr.write(`tcpotel top: ${text}\n`);
      };
      progress('loading and attaching the eBPF programs, then taking a snapshot of open connections…');
      process.exitCode = await runService(resolved, logger, () => {
        progress(summary ? `running: a summary line every ${opts.interval} on stdout (Ctrl+C stops)` : 'eBPF programs attached, snapshot taken: waiting for the first interval…');
      });
    });
}

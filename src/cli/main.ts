/**
 * The `tcpotel` command line.
 */
import { createWriteStream } from 'node:fs';
import { Command, Option, CommanderError } from 'commander';
import { stringify } from 'yaml';
import { defaultRegistry } from '../components.js';
import { ConfigError, formatIssue } from '../config/errors.js';
import { loadAndResolve, type ResolvedConfig } from '../config/validate.js';
import { describePlan, planPushdown } from '../pipeline/pushdown.js';
import { UserFacingError } from '../core/errors.js';
import { createLogger, LOG_LEVELS } from '../core/logger.js';
import { runService } from '../pipeline/run.js';
import { tcpotelVersion } from '../exporters/shared/resource.js';
import { openReplace } from '../core/files.js';
import { parseDuration } from '../config/units.js';
import { defaultConfigFiles, registerTop } from './top.js';
import { registerDoctorCommand } from './doctor.js';

/** Prints an error a user can act on, without a stack trace, and returns its exit code. */
export function reportError(err: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  if (err instanceof ConfigError) {
    stderr.write(`tcpotel: invalid configuration (${err.issues.length} ${err.issues.length === 1 ? 'error' : 'errors'}):\n`);
    for (const i of err.issues) stderr.write(`  ${formatIssue(i)}\n`);
    return err.exitCode;
  }
  if (err instanceof UserFacingError) {
    const where = (err as { component?: string }).component;
    stderr.write(`tcpotel: ${where ? `${where}: ` : ''}${err.message}\n`);
    if (err.hint) stderr.write(`  what to do: ${err.hint.split('\n').join('\n  ')}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  const where = (err as { component?: string }).component;
  stderr.write(`tcpotel: ${where ? `${where}: ` : ''}${e?.message ?? String(err)}\n`);
  if (process.env.TCPOTEL_DEBUG) stderr.write(`${e?.stack ?? ''}\n`);
  else stderr.write('  (set TCPOTEL_DEBUG=1 for the stack trace)\n');
  return 1;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function resolveConfigs(files: string[] | undefined, allowInsecure = false): ResolvedConfig {
  if (!files?.length) throw new UserFacingError('no config given', 'pass --config FILE (for example --config pipelines/default.yaml)', 2);
  return loadAndResolve(files, defaultRegistry(), process.env, { allowInsecure });
}

const INSECURE_OPTION = ['--allow-insecure-config', 'accept config files that group or others can write (or in directories they can write without the sticky bit)'] as const;

/** Records kept in memory while the disk is behind, at most (`record`). */
const RECORD_MAX_BUFFERED = 64 * 1024 * 1024;

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('tcpotel')
    .description('Every TCP connection on this host, from eBPF to OpenTelemetry metrics and logs.')
    .version(tcpotelVersion())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('run')
    .description('run the pipelines of a config until SIGINT or SIGTERM')
    .option('-c, --config <file>', 'pipeline config (YAML); repeat to merge several, later ones win (default: pipelines/default.yaml, with pipelines/otlp-overlay.yaml when OTEL_EXPORTER_OTLP_ENDPOINT is set)', collect)
    .addOption(new Option('--log-level <level>', 'log level (overrides service::telemetry::logs::level)').choices([...LOG_LEVELS]))
    .option(...INSECURE_OPTION)
    .action(async (opts: { config?: string[]; logLevel?: string; allowInsecureConfig?: boolean }) => {
      const resolved = resolveConfigs(opts.config?.length ? opts.config : defaultConfigFiles(), opts.allowInsecureConfig);
      const logger = createLogger((opts.logLevel ?? resolved.telemetry.logs.level) as 'info');
      for (const w of resolved.warnings) logger.warn(w);
      process.exitCode = await runService(resolved, logger);
    });

  program
    .command('validate')
    .description('check a config and report every error with its file, line and column')
    .option('-c, --config <file>', 'pipeline config (YAML); repeat to merge several', collect)
    .option(...INSECURE_OPTION)
    .action((opts: { config?: string[]; allowInsecureConfig?: boolean }) => {
      const resolved = resolveConfigs(opts.config, opts.allowInsecureConfig);
      const names = resolved.pipelines.map((p) => `${p.id} (${[...p.receivers, ...p.processors, ...p.exporters].join(' -> ')})`);
      process.stdout.write(`configuration is valid: ${resolved.pipelines.length} pipeline${resolved.pipelines.length === 1 ? '' : 's'}\n`);
      for (const n of names) process.stdout.write(`  ${n}\n`);
      for (const w of resolved.warnings) process.stdout.write(`  warning: ${w}\n`);
      // Where each aggregate will run (aggregate pushdown), and why not in the kernel.
      for (const line of describePlan(planPushdown(resolved))) process.stdout.write(`  ${line}\n`);
    });

  program
    .command('components')
    .description('list every receiver, processor, exporter and extension type with its default config')
    .option('--json', 'as JSON')
    .action((opts: { json?: boolean }) => {
      const reg = defaultRegistry();
      const sections = { receivers: reg.receivers, processors: reg.processors, exporters: reg.exporters, extensions: reg.extensions };
      if (opts.json) {
        const out: Record<string, unknown> = {};
        for (const [name, map] of Object.entries(sections)) {
          out[name] = Object.fromEntries([...map.values()].map((f) => [f.type, { description: f.description, defaults: f.createDefaultConfig(), ...('signals' in f ? { signals: f.signals } : {}) }]));
        }
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        return;
      }
      for (const [name, map] of Object.entries(sections)) {
        process.stdout.write(`${name}:\n`);
        for (const f of map.values()) {
          const signals = 'signals' in f ? ` [${f.signals.join(', ')}]` : '';
          process.stdout.write(`  ${f.type}:${signals}\n    # ${f.description}\n`);
          const yaml = stringify(f.createDefaultConfig(), { indent: 2 }).trimEnd();
          process.stdout.write(yaml === '{}' ? '    {}\n' : yaml.split('\n').map((l) => '    ' + l).join('\n') + '\n');
        }
      }
    });

  registerTop(program);
  registerDoctorCommand(program);

  program
    .command('record')
    .description('record connection events from the eBPF receiver, for the replay receiver')
    .requiredOption('-o, --out <file>', 'recording to write (JSON lines; created 0640, never through a symbolic link)')
    .option('-d, --duration <duration>', 'how long to record (e.g. 10s)', '10s')
    .action(async (opts: { out: string; duration: string }) => {
      const ms = parseDuration(opts.duration);
      if (ms === undefined || ms <= 0 || ms > 24 * 3_600_000) throw new UserFacingError(`--duration: "${opts.duration}" is not a duration between 1ms and 24h`, 'write e.g. 10s or 1m', 2);
      const { fd } = openReplace(opts.out);
      const { ebpfReceiverFactory } = await import('../receivers/fallback.js');
      const { componentTelemetry, Telemetry } = await import('../core/telemetry.js');
      const { asyncScheduler } = await import('rxjs');
      const logger = createLogger('warn');
      const config = ebpfReceiverFactory.schema.parse(ebpfReceiverFactory.createDefaultConfig());
      const rx = ebpfReceiverFactory.create(config, { id: 'ebpf', logger, telemetry: componentTelemetry(new Telemetry(), { id: 'ebpf', kind: 'receiver' }), scheduler: asyncScheduler });
      const out = createWriteStream('', { fd, autoClose: true });
      const t0 = Date.now();
      let n = 0;
      let dropped = 0;
      rx.output.subscribe((b) => {
        // The disk is behind: what does not fit is not kept in memory, it is counted.
        if (out.writableLength > RECORD_MAX_BUFFERED) {
          dropped += b.events.length;
          return;
        }
        n += b.events.length;
        out.write(JSON.stringify({ at: Date.now() - t0, events: b.events, ...(b.stateCounts ? { stateCounts: b.stateCounts } : {}) }) + '\n');
      });
      try {
        await rx.start();
        await new Promise((r) => setTimeout(r, ms));
        await rx.shutdown();
      } finally {
        await new Promise((r) => out.end(r));
      }
      process.stderr.write(`tcpotel: recorded ${n} events to ${opts.out}${dropped ? ` (${dropped} dropped: the disk was behind)` : ''}\n`);
    });

  return program;
}

/** Once a command is done, a handle left open (a socket still closing) may delay the exit this long, no more. */
const EXIT_GRACE_MS = 1000;

/** Entry point of bin/tcpotel.js. */
export async function runCli(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.exitCode = reportError(err);
  }
  // Everything has been flushed or counted: nothing may keep the process alive now.
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
}

import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** The log levels a config (service::telemetry::logs::level) or --log-level may name. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const satisfies readonly LevelWithSilent[];
export type LogLevel = (typeof LOG_LEVELS)[number];

let root: Logger | undefined;

/** Structured logs go to stderr: stdout belongs to the live view and the summary lines. */
export function createLogger(level: LevelWithSilent = 'info'): Logger {
  root = pino(
    {
      level,
      base: undefined,
      redact: { paths: ['headers.*', '*.headers.*', 'config.headers.*'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
  return root;
}

/** The level TCPOTEL_LOG_LEVEL names, when it names one (empty or unknown: warn). */
export function envLogLevel(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const v = env.TCPOTEL_LOG_LEVEL?.trim().toLowerCase();
  return (LOG_LEVELS as readonly string[]).includes(v ?? '') ? (v as LogLevel) : 'warn';
}

export function rootLogger(): Logger {
  return root ?? createLogger(envLogLevel());
}

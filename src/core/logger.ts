import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

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

export function rootLogger(): Logger {
  return root ?? createLogger((process.env.TCPOTEL_LOG_LEVEL as LevelWithSilent | undefined) ?? 'warn');
}

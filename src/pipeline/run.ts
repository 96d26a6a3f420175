/** Running a resolved config as a service, the way `tcpotel run` and `tcpotel top` do. */
import type { ResolvedConfig } from '../config/validate.js';
import type { Logger } from '../core/logger.js';
import { Service } from './service.js';

/** Runs a service until SIGINT or SIGTERM; a second signal forces the exit. */
export async function runService(resolved: ResolvedConfig, logger: Logger, onStarted?: (s: Service) => void | Promise<void>): Promise<number> {
  const service = new Service(resolved, { logger });
  let signals = 0;
  let resolveStop!: () => void;
  const stopRequested = new Promise<void>((r) => (resolveStop = r));
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`tcpotel: ${sig} again: exiting now\n`);
      process.exit(130);
    }
    logger.info({ signal: sig }, 'stopping: flushing exporters and detaching (send the signal again to force)');
    resolveStop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await service.start();
    await onStarted?.(service);
    const failed = await Promise.race([stopRequested.then(() => undefined), service.failure]);
    await service.shutdown();
    if (failed) {
      process.stderr.write(`tcpotel: ${failed.message}\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    await service.shutdown().catch(() => undefined);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

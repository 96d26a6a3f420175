import { pointCount } from '../../core/metrics.js';
import { Observable, type OperatorFunction, type Subscription } from 'rxjs';
import type { Batch, ComponentContext } from '../../core/component.js';
import type { AttributeValue, EventBatch, StateCounts, TcpEvent } from '../../core/events.js';
import type { BatchConfig } from './config.js';

type Resource = Record<string, AttributeValue> | undefined;

function sameResource(a: Resource, b: Resource): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

/**
 * Joins consecutive event batches (same receiver and resource) and sends them when
 * `send_batch_size` events are buffered or `timeout` after the first buffered event,
 * split to at most `send_batch_max_size`. Metric batches pass at once, after what is
 * buffered. A batch with state counts sends the buffer with it. On complete (and before
 * an error is passed on) what is buffered is sent; unsubscribed before that, what is
 * buffered is counted as dropped. The buffer never holds more than send_batch_size events
 * plus one incoming batch: reaching the size sends it.
 */
export function batch(config: BatchConfig, ctx: ComponentContext): OperatorFunction<Batch, Batch> {
  const size = config.send_batch_size;
  const max = config.send_batch_max_size;
  const timeout = config.timeout;
  const t = ctx.telemetry;

  return (source) =>
    new Observable<Batch>((subscriber) => {
      let buffer: TcpEvent[] = [];
      let receiver = '';
      let resource: Resource;
      let timer: Subscription | undefined;

      const cancelTimer = () => {
        timer?.unsubscribe();
        timer = undefined;
      };

      const send = (events: TcpEvent[], stateCounts?: StateCounts) => {
        const out: EventBatch = { type: 'events', receiver, events };
        if (resource) out.resource = resource;
        if (stateCounts) out.stateCounts = stateCounts;
        t.outgoing(events.length);
        subscriber.next(out);
      };

      /** Sends `events` in pieces of at most max; the state counts ride on the last piece. */
      const sendSplit = (events: TcpEvent[], stateCounts?: StateCounts) => {
        if (max === 0 || events.length <= max) {
          send(events, stateCounts);
          return;
        }
        for (let i = 0; i < events.length; i += max) {
          send(events.slice(i, i + max), i + max >= events.length ? stateCounts : undefined);
        }
      };

      const flush = (stateCounts?: StateCounts) => {
        cancelTimer();
        if (buffer.length === 0 && !stateCounts) return;
        const events = buffer;
        buffer = [];
        sendSplit(events, stateCounts);
      };

      const startTimer = () => {
        cancelTimer();
        timer = ctx.scheduler.schedule(() => {
          timer = undefined;
          flush();
        }, timeout);
      };

      const sub = source.subscribe({
        next: (b) => {
          if (b.type !== 'events') {
            flush();
            t.incoming(pointCount(b));
            t.outgoing(pointCount(b));
            subscriber.next(b);
            return;
          }
          const events = b.events;
          const n = events.length;
          t.incoming(n);
          if (buffer.length > 0 && (b.receiver !== receiver || !sameResource(b.resource, resource))) flush();
          if (n === 0 && !b.stateCounts) return;
          if (buffer.length === 0) {
            receiver = b.receiver;
            resource = b.resource;
            // Nothing to join it with and it goes out now anyway: pass it as it is.
            if ((n >= size || b.stateCounts || timeout === 0) && (max === 0 || n <= max)) {
              t.outgoing(n);
              subscriber.next(b);
              return;
            }
          }
          for (let i = 0; i < n; i++) buffer.push(events[i]!);
          if (b.stateCounts || timeout === 0) {
            flush(b.stateCounts);
            return;
          }
          if (buffer.length >= size) {
            cancelTimer();
            if (max === 0) {
              flush();
            } else {
              let start = 0;
              while (buffer.length - start >= size && buffer.length - start > 0) {
                const take = Math.min(max, buffer.length - start);
                send(buffer.slice(start, start + take));
                start += take;
              }
              buffer = start < buffer.length ? buffer.slice(start) : [];
            }
            // What is left came in now: its timeout starts now.
            if (buffer.length > 0) startTimer();
            return;
          }
          if (!timer) startTimer();
        },
        error: (err) => {
          flush();
          subscriber.error(err);
        },
        complete: () => {
          flush();
          subscriber.complete();
        },
      });

      return () => {
        cancelTimer();
        sub.unsubscribe();
        // Unsubscribed with events still buffered (a shutdown past its deadline): counted.
        if (buffer.length) t.dropped(buffer.length, 'shutdown');
        buffer = [];
      };
    });
}

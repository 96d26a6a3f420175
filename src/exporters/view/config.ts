/**
 * Settings of the `view` exporter: a live, top-like terminal view of the connections the
 * pipelines see (Ink, when stdout is a terminal), or one summary line per interval.
 */
import { z } from 'zod';
import { duration } from '../../config/units.js';

export const VIEW_MODES = ['auto', 'tty', 'summary'] as const;
export type ViewMode = (typeof VIEW_MODES)[number];

export const viewConfigSchema = z.strictObject({
  /**
   * How often the screen refreshes (and the period rates are computed over). Metric
   * windows from `aggregate` are summed until they cover this long: give the aggregate
   * processor the same interval, or a divisor of it.
   */
  interval: duration().refine((ms) => ms >= 100, { message: 'interval must be at least 100ms' }),
  /** Rows of the top-connections table (fewer when the terminal is too short). */
  top: z.number().int().min(1).max(1000),
  /** auto: the live view when stdout is a terminal, else summary lines; tty: always the live view; summary: always lines. */
  mode: z.enum(VIEW_MODES),
  /** Recent failed connects and resets kept for the view (from a logs pipeline). */
  max_recent: z.number().int().min(0).max(10_000),
});

export type ViewConfig = z.output<typeof viewConfigSchema>;

export function defaultViewConfig() {
  return { interval: '1s', top: 10, mode: 'auto', max_recent: 20 };
}

import { z } from 'zod';

export const debugConfigSchema = z.strictObject({
  verbosity: z.enum(['basic', 'normal', 'detailed']),
  output: z.enum(['stdout', 'stderr']),
});
export type DebugConfig = z.output<typeof debugConfigSchema>;

export function defaultDebugConfig() {
  return { verbosity: 'normal', output: 'stdout' };
}

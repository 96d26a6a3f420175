import { z } from 'zod';

export const RESOURCE_DETECTORS = ['host', 'os', 'process'] as const;
export type ResourceDetector = (typeof RESOURCE_DETECTORS)[number];

const attributeValue = z.union([z.string(), z.number(), z.boolean()], { error: 'value must be a string, a number or a boolean' });

export const resourceActionSchema = z
  .strictObject({
    key: z.string().min(1, { message: 'key cannot be empty' }),
    /** The value to write (insert, upsert, update). */
    value: attributeValue.optional(),
    /** insert: only if absent; update: only if present; upsert: always; delete. */
    action: z.enum(['insert', 'upsert', 'update', 'delete']),
  })
  .superRefine((a, ctx) => {
    if (a.action === 'delete') {
      if (a.value !== undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: 'delete takes no value' });
    } else if (a.value === undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `${a.action} needs a value` });
    }
  });

export const resourceConfigSchema = z.strictObject({
  /** What to detect once at start: host (name, arch), os (type, description, name, version), process (tcpotel itself). */
  detectors: z.array(z.enum(RESOURCE_DETECTORS)),
  /** Applied in order after detection. */
  attributes: z.array(resourceActionSchema),
});

export type ResourceAction = z.output<typeof resourceActionSchema>;
export type ResourceConfig = z.output<typeof resourceConfigSchema>;

export function defaultResourceConfig() {
  return { detectors: ['host', 'os'] as string[], attributes: [] as unknown[] };
}

import { z } from 'zod';

const attributeValue = z.union([z.string(), z.number(), z.boolean()], { error: 'value must be a string, a number or a boolean' });

const VALUE_ACTIONS = ['insert', 'update', 'upsert'] as const;

export const attributeActionSchema = z
  .strictObject({
    /** The attribute to act on. */
    key: z.string().min(1, { message: 'key cannot be empty' }),
    /** insert: only if absent; update: only if present; upsert: always; delete; hash: SHA-256 hex of the value. */
    action: z.enum(['insert', 'update', 'upsert', 'delete', 'hash']),
    /** The value to write (insert, update, upsert). */
    value: attributeValue.optional(),
    /** Or: copy the value of this attribute (nothing is written when it is absent). */
    from_attribute: z.string().min(1, { message: 'from_attribute cannot be empty' }).optional(),
  })
  .superRefine((a, ctx) => {
    const takesValue = (VALUE_ACTIONS as readonly string[]).includes(a.action);
    if (takesValue) {
      if (a.value === undefined && a.from_attribute === undefined) {
        ctx.addIssue({ code: 'custom', path: ['value'], message: `${a.action} needs either value or from_attribute` });
      } else if (a.value !== undefined && a.from_attribute !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['from_attribute'], message: `${a.action} takes value or from_attribute, not both` });
      }
    } else {
      for (const k of ['value', 'from_attribute'] as const) {
        if (a[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `${a.action} takes no ${k}` });
      }
    }
  });

export const attributesConfigSchema = z.strictObject({
  /** Applied in order to each event's attributes (or each metric point's). */
  actions: z.array(attributeActionSchema),
});

export type AttributeAction = z.output<typeof attributeActionSchema>;
export type AttributesConfig = z.output<typeof attributesConfigSchema>;

export function defaultAttributesConfig() {
  return { actions: [] as unknown[] };
}

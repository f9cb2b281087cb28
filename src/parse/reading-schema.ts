/**
 * The message contract, as a JSON schema derived from the field descriptor (reading-fields.ts).
 * `generate-validator.ts` compiles it into standalone validation code at build time
 * (src/parse/generated/), so workers never run the ajv compiler. The timestamp is checked as a
 * string here and parsed exactly (to the microsecond) in timestamp.ts.
 */
import { MACHINE_ID_SCHEMA } from '../machine-id.js'
import { READING_FIELDS, messageSchema } from '../reading-fields.js'

export type { Reading } from '../reading-fields.js'

export const readingSchema = {
  $id: 'cnc-monitor/reading',
  type: 'object',
  required: ['machine_id', 'timestamp', ...READING_FIELDS.filter((f) => f.required).map((f) => f.name)],
  properties: {
    machine_id: MACHINE_ID_SCHEMA,
    timestamp: { type: 'string', minLength: 20, maxLength: 64 },
    ...Object.fromEntries(READING_FIELDS.map((f) => [f.name, messageSchema(f)])),
  },
} as const

/**
 * The message contract, as a JSON schema. `generate-validator.ts` compiles it into standalone
 * validation code at build time (src/parse/generated/), so workers never run the ajv compiler.
 * The timestamp is checked as a string here and parsed exactly (to the microsecond) in timestamp.ts.
 */
import { MACHINE_ID_SCHEMA } from '../machine-id.js'

const optionalNumber = { type: ['number', 'null'] } as const

export const readingSchema = {
  $id: 'cnc-monitor/reading',
  type: 'object',
  required: ['machine_id', 'timestamp', 'temperature', 'spindle_speed'],
  properties: {
    machine_id: MACHINE_ID_SCHEMA,
    timestamp: { type: 'string', minLength: 20, maxLength: 64 },
    temperature: { type: 'number' },
    spindle_speed: { type: 'number' },
    x_pos_mm: optionalNumber,
    y_pos_mm: optionalNumber,
    z_pos_mm: optionalNumber,
    feed_rate_actual: optionalNumber,
    spindle_load_percent: optionalNumber,
    total_power_kw: optionalNumber,
    machine_state: { type: ['string', 'null'], maxLength: 64 },
    active_program_line: { type: ['integer', 'null'], minimum: -2147483648, maximum: 2147483647 },
  },
} as const

/** A message that passed the schema. Unknown extra fields may be present and are ignored. */
export interface Reading {
  machine_id: string
  timestamp: string
  temperature: number
  spindle_speed: number
  x_pos_mm?: number | null
  y_pos_mm?: number | null
  z_pos_mm?: number | null
  feed_rate_actual?: number | null
  spindle_load_percent?: number | null
  total_power_kw?: number | null
  machine_state?: string | null
  active_program_line?: number | null
}

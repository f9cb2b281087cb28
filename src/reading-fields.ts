/**
 * The reading's fields, once. Everything that lists them is derived from READING_FIELDS:
 *
 *   READING_FIELDS ─┬─▶ parse/reading-schema.ts     ajv message schema (→ generated validator), Reading type
 *                   ├─▶ parse/generate-encoder.ts   binary COPY encoder (generated, checked by typecheck)
 *                   ├─▶ write/copy-writer.ts        COPY column list (via parse/copy-encoder.ts COPY_COLUMNS)
 *                   ├─▶ write/database.ts           the write probe's row (required columns)
 *                   ├─▶ store/{readings,fleet}.ts   SELECT lists, row order of ReadingRow, group keys
 *                   ├─▶ store/{buckets,cagg-buckets}.ts  aggregates (AGGREGATE_FIELDS, LAST_FIELDS)
 *                   ├─▶ api/reading-pages.ts        cursor group-key checks per position
 *                   ├─▶ api/reading-json.ts         the Reading JSON of /data, /latest, /fleet and the live feed
 *                   ├─▶ api/openapi.ts              Reading and FleetLatest schemas (responseSchema)
 *                   └─▶ config/schema.ts            alarm rule fields (AGGREGATE_FIELDS)
 *
 * Order is the API's: a Reading serializes machine_id, timestamp, then these fields in this order;
 * COPY tuples are time, machine_id, then these fields. Adding a field: append it here, add a
 * migration (sql/NNN_*.sql) with its column, run `npm run build` (README, "Adding a reading field").
 *
 * Each field's one name is its JSON property and its SQL column. `sql` fixes the rest:
 *   float8  JSON number (finite), COPY float8          int4  JSON integer in int32, COPY int4
 *   text    JSON string (maxLength UTF-16 units, no NUL), COPY UTF-8 text
 * required: the message must carry a non-null value and the column is NOT NULL; otherwise the
 * field may be absent or null in the message and is NULL in the row and the API.
 * aggregatable: avg/min/max per bucket and alarm rules; every field has `last` per bucket.
 */

export type SqlType = 'float8' | 'int4' | 'text'

export interface FieldSpec {
  readonly name: string
  readonly sql: SqlType
  readonly required: boolean
  readonly aggregatable: boolean
  /** text only: the longest value a message may carry, in UTF-16 code units. */
  readonly maxLength?: number
}

export const READING_FIELDS = [
  { name: 'temperature', sql: 'float8', required: true, aggregatable: true },
  { name: 'spindle_speed', sql: 'float8', required: true, aggregatable: true },
  { name: 'x_pos_mm', sql: 'float8', required: false, aggregatable: true },
  { name: 'y_pos_mm', sql: 'float8', required: false, aggregatable: true },
  { name: 'z_pos_mm', sql: 'float8', required: false, aggregatable: true },
  { name: 'feed_rate_actual', sql: 'float8', required: false, aggregatable: true },
  { name: 'spindle_load_percent', sql: 'float8', required: false, aggregatable: true },
  { name: 'machine_state', sql: 'text', required: false, aggregatable: false, maxLength: 64 },
  { name: 'active_program_line', sql: 'int4', required: false, aggregatable: false },
  { name: 'total_power_kw', sql: 'float8', required: false, aggregatable: true },
] as const satisfies readonly FieldSpec[]

export type ReadingField = typeof READING_FIELDS[number]
export type ReadingFieldName = ReadingField['name']

type TsType<F extends FieldSpec> = F['sql'] extends 'text' ? string : number
type Stored<F extends FieldSpec> = F['required'] extends true ? TsType<F> : TsType<F> | null

/** A message that passed the schema. Unknown extra fields may be present and are ignored. */
export type Reading = { machine_id: string, timestamp: string }
  & { [F in ReadingField as F['required'] extends true ? F['name'] : never]: TsType<F> }
  & { [F in ReadingField as F['required'] extends true ? never : F['name']]?: TsType<F> | null }

type StoredTuple<T extends readonly FieldSpec[]> = { -readonly [K in keyof T]: Stored<T[K]> }

/** One stored reading as read back: [timestamp (RFC 3339 µs UTC), ...READING_FIELDS in order]. */
export type ReadingRow = [string, ...StoredTuple<typeof READING_FIELDS>]

export type AggregateField = Extract<ReadingField, { aggregatable: true }>['name']

/** Fields with avg/min/max per bucket (and alarm rules), in READING_FIELDS order. */
export const AGGREGATE_FIELDS = READING_FIELDS.filter((f) => f.aggregatable).map((f) => f.name) as readonly AggregateField[]

/** Fields of a `last` bucket: AGGREGATE_FIELDS, then the others in READING_FIELDS order. */
export const LAST_FIELDS: readonly ReadingFieldName[] = [...AGGREGATE_FIELDS, ...READING_FIELDS.filter((f) => !f.aggregatable).map((f) => f.name)]

const INT4 = { minimum: -2147483648, maximum: 2147483647 } as const

/** JSON-schema fragment of the field in a message (the ajv contract). */
export function messageSchema (f: FieldSpec): Record<string, unknown> {
  const base = f.sql === 'text' ? 'string' : f.sql === 'int4' ? 'integer' : 'number'
  const type = f.required ? base : [base, 'null']
  if (f.sql === 'int4') return { type, ...INT4 }
  if (f.sql === 'text' && f.maxLength !== undefined) return { type, maxLength: f.maxLength }
  return { type }
}

/** JSON-schema fragment of the field in a response (OpenAPI): the stored value, null where the column is nullable. */
export function responseSchema (f: FieldSpec): Record<string, unknown> {
  const base = f.sql === 'text' ? 'string' : f.sql === 'int4' ? 'integer' : 'number'
  return { type: f.required ? base : [base, 'null'] }
}

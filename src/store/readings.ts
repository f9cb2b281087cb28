/**
 * Read-side SQL of sensor_data: time-ordered pages and the latest reading. Every statement is
 * "one machine, a time range" so it walks the (machine_id, time DESC) index. Rows come back in
 * array mode, timestamps formatted by PostgreSQL to the microsecond (Date keeps milliseconds).
 *
 * sensor_data has no unique column (the table is the original design's contract), so rows that
 * share one timestamp are told apart by ROW_KEY, a digest of the row's other values. Two rows
 * with equal keys are equal in every column we serve, so it does not matter which copy a page
 * shows: a cursor counts how many of them it has shown (readingsInGroup's `skip`).
 */
import type pg from 'pg'
import { isoUtc } from './machines.js'

/** Column order of a ReadingRow; the API serializes in this order. */
export const READING_FIELDS = [
  'timestamp', 'temperature', 'spindle_speed', 'x_pos_mm', 'y_pos_mm', 'z_pos_mm', 'feed_rate_actual',
  'spindle_load_percent', 'machine_state', 'active_program_line', 'total_power_kw',
] as const

/** [timestamp, temperature, spindle_speed, x, y, z, feed, load, state, program line, power] */
export type ReadingRow = [string, number, number, number | null, number | null, number | null, number | null,
  number | null, string | null, number | null, number | null]

/** A ReadingRow followed by its ROW_KEY in hex (64 characters). */
export type KeyedReadingRow = [...ReadingRow, string]

const COLUMNS = `${isoUtc('time')}, temperature, spindle_speed, x_pos_mm, y_pos_mm, z_pos_mm, feed_rate_actual,
  spindle_load_percent, machine_state, active_program_line, total_power_kw`
const SELECT = `SELECT ${COLUMNS} FROM sensor_data`

/**
 * SHA-256 of the row's values except time and machine_id. Numbers enter as their binary send
 * form (exact, whatever extra_float_digits says), NULL as an empty record field, text quoted by
 * the record output: distinct rows give distinct inputs.
 */
const ROW_KEY = `sha256(convert_to(ROW(float8send(temperature), float8send(spindle_speed), float8send(x_pos_mm),
  float8send(y_pos_mm), float8send(z_pos_mm), float8send(feed_rate_actual), float8send(spindle_load_percent),
  int4send(active_program_line), float8send(total_power_kw), machine_state)::text, 'UTF8'))`

/** Readings with after < time <= end, oldest first, at most `limit` (callers ask for one more than they show). */
export async function readingsAfter (db: pg.Pool, machineId: string, afterIso: string, endIso: string, limit: number): Promise<ReadingRow[]> {
  const r = await db.query<ReadingRow>({
    name: 'readings-after',
    text: `${SELECT} WHERE machine_id = $1 AND time > $2::timestamptz AND time <= $3::timestamptz ORDER BY time LIMIT $4`,
    values: [machineId, afterIso, endIso, limit],
    rowMode: 'array',
  })
  return r.rows
}

/**
 * Part of the rows at exactly one instant, in key order: those with a key >= `fromKey` (all when
 * null), skipping the first `skip`, at most `limit`. The database reads the whole group to order
 * it (top-N sort: memory bounded by limit); the API holds at most `limit` rows.
 */
export async function readingsInGroup (db: pg.Pool, machineId: string, atIso: string, fromKey: string | null, skip: number, limit: number): Promise<KeyedReadingRow[]> {
  const r = await db.query<KeyedReadingRow>({
    name: 'readings-in-group',
    text: `SELECT ${COLUMNS}, encode(k, 'hex') FROM (SELECT *, ${ROW_KEY} AS k FROM sensor_data
             WHERE machine_id = $1 AND time = $2::timestamptz) g
           WHERE $3::text IS NULL OR k >= decode($3::text, 'hex') ORDER BY k OFFSET $4 LIMIT $5`,
    values: [machineId, atIso, fromKey, skip, limit],
    rowMode: 'array',
  })
  return r.rows
}

/**
 * The reading with the greatest timestamp (not the last to arrive): one descending probe of the
 * (machine_id, time DESC) index, then one heap fetch; on a hypertable the newest chunk answers.
 */
export async function latestReading (db: pg.Pool, machineId: string): Promise<ReadingRow | undefined> {
  const r = await db.query<ReadingRow>({
    name: 'readings-latest',
    text: `${SELECT} WHERE machine_id = $1 ORDER BY time DESC LIMIT 1`,
    values: [machineId],
    rowMode: 'array',
  })
  return r.rows[0]
}

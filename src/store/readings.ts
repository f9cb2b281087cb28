/**
 * Read-side SQL of sensor_data: time-ordered pages and the latest reading. Every statement is
 * "one machine, a time range" so it walks the (machine_id, time DESC) index. Rows come back in
 * array mode, timestamps formatted by PostgreSQL to the microsecond (Date keeps milliseconds).
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

const SELECT = `SELECT ${isoUtc('time')}, temperature, spindle_speed, x_pos_mm, y_pos_mm, z_pos_mm, feed_rate_actual,
  spindle_load_percent, machine_state, active_program_line, total_power_kw FROM sensor_data`

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

/** Every reading of one machine at exactly one instant (a group a page must not split). */
export async function readingsAt (db: pg.Pool, machineId: string, atIso: string): Promise<ReadingRow[]> {
  const r = await db.query<ReadingRow>({
    name: 'readings-at',
    text: `${SELECT} WHERE machine_id = $1 AND time = $2::timestamptz`,
    values: [machineId, atIso],
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

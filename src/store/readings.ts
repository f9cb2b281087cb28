/**
 * Read-side SQL of sensor_data: time-ordered pages and the latest reading. Every statement is
 * "one machine, a time range" so it walks the (machine_id, time DESC) index. Rows come back in
 * array mode, timestamps formatted by PostgreSQL to the microsecond (Date keeps milliseconds).
 *
 * sensor_data has no unique column (the table is the original design's contract), so rows that
 * share one timestamp are ordered by all their other served values (GroupKey). Two rows with equal
 * keys are equal in every column we serve, so it does not matter which copy a page shows: a
 * cursor counts how many of them it has shown (readingsInGroup's `skip`).
 */
import type pg from 'pg'
import { READING_FIELDS, type ReadingRow } from '../reading-fields.js'
import { CopyOut } from './copy-out.js'
import { isoUtc } from './machines.js'

export type { ReadingRow }

/**
 * A row's position inside its group: ReadingRow[1..] as text (String(number): exact for float8,
 * 'NaN' and 'Infinity' included, which PostgreSQL parses back), null for NULL.
 */
export type GroupKey = Array<string | null>

export const groupKey = (r: ReadingRow): GroupKey => r.slice(1).map((v) => v === null ? null : String(v))

const COLUMNS = [isoUtc('time'), ...READING_FIELDS.map((f) => f.name)].join(', ')
const SELECT = `SELECT ${COLUMNS} FROM sensor_data`
/**
 * The same columns with the timestamp as stored (api/copy-json.ts formats it as isoUtc prints it),
 * each cast to the type copy-json.ts decodes: no-ops on this schema's columns, where a table of
 * another origin may differ.
 */
const COPY_SELECT = `SELECT time::timestamptz, ${READING_FIELDS.map((f) => `${f.name}::${f.sql}`).join(', ')} FROM sensor_data`

/** [column, SQL type] in GroupKey order (ReadingRow without the timestamp). */
const KEY_COLUMNS = READING_FIELDS.map((f) => [f.name, f.sql] as const)

/**
 * GroupKey as a row of non-null values (NULL first, then the value; text in byte order), so that a
 * row comparison orders it lexicographically. Measured on a 100,000-row group (PostgreSQL 15, this
 * 2-core box, busy): 0.4 s per top-1,000 page; a SHA-256 digest of the row instead took 1.2 s.
 */
function keyList (value: (col: string, type: string, i: number) => string): string {
  return KEY_COLUMNS.map(([col, type], i) => {
    const v = value(col, type, i + 1)
    return `${v} IS NOT NULL, coalesce(${v}, ${type === 'text' ? "''" : '0'})${type === 'text' ? ' COLLATE "C"' : ''}`
  }).join(', ')
}
/** ORDER BY takes the list (not a ROW value, whose comparison would not see the collation). */
const ROW_KEY = keyList((col) => col)
const PARAM_KEY = keyList((_, type, i) => `($3::text[])[${i}]::${type}`)

/** The rows of readingsAfter and readingsAfterCopy, from parameters or literals: one statement shape for both. */
const afterWhere = (machine: string, after: string, end: string, limit: string): string =>
  `WHERE machine_id = ${machine} AND time > ${after}::timestamptz AND time <= ${end}::timestamptz ORDER BY time LIMIT ${limit}`

/** Readings with after < time <= end, oldest first, at most `limit` (callers ask for one more than they show). */
export async function readingsAfter (db: pg.Pool, machineId: string, afterIso: string, endIso: string, limit: number): Promise<ReadingRow[]> {
  const r = await db.query<ReadingRow>({
    name: 'readings-after',
    text: `${SELECT} ${afterWhere('$1', '$2', '$3', '$4')}`,
    values: [machineId, afterIso, endIso, limit],
    rowMode: 'array',
  })
  return r.rows
}

/**
 * readingsAfter's rows as PostgreSQL's binary COPY output, handed to `onChunk` as it arrives
 * (copy-out.ts; api/copy-json.ts turns it into JSON bytes meanwhile, without a JavaScript value per
 * field): the database sends numbers and timestamps as they are stored instead of printing them.
 * COPY takes no parameters: the values are quoted literals. It runs in its own transaction with
 * `SET LOCAL enable_sort = off`: COPY plans with the literal values, and for a window of about
 * `limit` rows the planner prefers a bitmap scan and a sort of the whole window (31 ms for 10,000
 * rows here) to walking the (machine_id, time) index in order (9.6 ms); the prepared readingsAfter
 * gets the index walk.
 */
export async function readingsAfterCopy (db: pg.Pool, machineId: string, afterIso: string, endIso: string, limit: number, onChunk: (chunk: Buffer) => void): Promise<void> {
  const client = await db.connect()
  let failed: Error | undefined
  try {
    const lit = (v: string): string => client.escapeLiteral(v)
    const sql = `COPY (${COPY_SELECT} ${afterWhere(lit(machineId), lit(afterIso), lit(endIso), String(Math.trunc(limit)))}) TO STDOUT (FORMAT binary)`
    await client.query('BEGIN; SET LOCAL enable_sort = off')
    await client.query(new CopyOut(sql, onChunk)).result
    await client.query('COMMIT')
  } catch (err) {
    failed = err instanceof Error ? err : new Error(String(err))
    throw err
  } finally {
    // A connection whose COPY failed may be midway through it or inside the transaction: close it, never reuse it.
    client.release(failed)
  }
}

/**
 * Part of the rows at exactly one instant, in GroupKey order: those with a key >= `fromKey` (all
 * when null), skipping the first `skip`, at most `limit`. The database reads the whole group to
 * order it (a top-N sort: memory bounded by skip + limit); the API holds at most `limit` rows.
 */
export async function readingsInGroup (db: pg.Pool, machineId: string, atIso: string, fromKey: GroupKey | null, skip: number, limit: number): Promise<ReadingRow[]> {
  const r = await db.query<ReadingRow>({
    name: 'readings-in-group',
    text: `${SELECT} WHERE machine_id = $1 AND time = $2::timestamptz AND ($3::text[] IS NULL OR ROW(${ROW_KEY}) >= ROW(${PARAM_KEY}))
           ORDER BY ${ROW_KEY} OFFSET $4 LIMIT $5`,
    values: [machineId, atIso, fromKey, skip, limit],
    rowMode: 'array',
  })
  return r.rows
}

/**
 * The reading with the greatest timestamp (not the last to arrive) of each machine, in one
 * statement: per machine one descending probe of the (machine_id, time DESC) index, then one heap
 * fetch; on a hypertable the newest chunk answers. Machines without readings are absent.
 */
export async function latestReadings (db: pg.Pool, machineIds: readonly string[]): Promise<Map<string, ReadingRow>> {
  const r = await db.query<[string, ...ReadingRow]>({
    name: 'readings-latest-many',
    text: `SELECT i.id, l.* FROM unnest($1::text[]) AS i(id)
           CROSS JOIN LATERAL (${SELECT} WHERE machine_id = i.id ORDER BY time DESC LIMIT 1) l`,
    values: [machineIds],
    rowMode: 'array',
  })
  return new Map(r.rows.map((row) => [row[0], row.slice(1) as ReadingRow]))
}

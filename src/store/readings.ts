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
import { isoUtc } from './machines.js'

/** Column order of a ReadingRow; the API serializes in this order. */
export const READING_FIELDS = [
  'timestamp', 'temperature', 'spindle_speed', 'x_pos_mm', 'y_pos_mm', 'z_pos_mm', 'feed_rate_actual',
  'spindle_load_percent', 'machine_state', 'active_program_line', 'total_power_kw',
] as const

/** [timestamp, temperature, spindle_speed, x, y, z, feed, load, state, program line, power] */
export type ReadingRow = [string, number, number, number | null, number | null, number | null, number | null,
  number | null, string | null, number | null, number | null]

/**
 * A row's position inside its group: ReadingRow[1..10] as text (String(number): exact for float8,
 * 'NaN' and 'Infinity' included, which PostgreSQL parses back), null for NULL.
 */
export type GroupKey = Array<string | null>

export const groupKey = (r: ReadingRow): GroupKey => r.slice(1).map((v) => v === null ? null : String(v))

const COLUMNS = `${isoUtc('time')}, temperature, spindle_speed, x_pos_mm, y_pos_mm, z_pos_mm, feed_rate_actual,
  spindle_load_percent, machine_state, active_program_line, total_power_kw`
const SELECT = `SELECT ${COLUMNS} FROM sensor_data`

/** [column, SQL type] in GroupKey order (ReadingRow without the timestamp). */
const KEY_COLUMNS = [['temperature', 'float8'], ['spindle_speed', 'float8'], ['x_pos_mm', 'float8'], ['y_pos_mm', 'float8'],
  ['z_pos_mm', 'float8'], ['feed_rate_actual', 'float8'], ['spindle_load_percent', 'float8'], ['machine_state', 'text'],
  ['active_program_line', 'int4'], ['total_power_kw', 'float8']] as const

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

/**
 * A float8 as JSON text exactly as String(number) writes it, or NULL. PostgreSQL (extra_float_digits
 * ≥ 1, the default since 12) writes the shortest round-trip digits, as JavaScript does, in fixed
 * notation for 1e-4 ≤ |x| < 1e15 where JavaScript's fixed range (1e-7 ≤ |x| < 1e21) agrees; -0 is
 * '0' in JavaScript. Outside that range (and NaN, ±Infinity) the expression is NULL, which makes
 * the whole row's JSON NULL: such rows come back raw and are written by the API (readingJson).
 */
const jsNum = (col: string): string =>
  `CASE WHEN ${col} IS NULL THEN 'null' WHEN ${col} = 0 THEN '0' WHEN abs(${col}) >= 1e-4::float8 AND abs(${col}) < 1e15::float8 THEN ${col}::text END`

/**
 * The reading's JSON (api/reading-json.ts, same bytes) over columns ts (formatted time) and the
 * reading columns; `idJson` is the machine id's JSON. to_json(text) escapes as JSON.stringify does
 * (\b \f \n \r \t \" \\, other controls as \u00xx; PostgreSQL text holds no lone surrogates).
 */
const readingJsonSql = (idJson: string): string => `'{"machine_id":' || ${idJson} || ',"timestamp":"' || ts ||
  '","temperature":' || ${jsNum('temperature')} || ',"spindle_speed":' || ${jsNum('spindle_speed')} ||
  ',"x_pos_mm":' || ${jsNum('x_pos_mm')} || ',"y_pos_mm":' || ${jsNum('y_pos_mm')} || ',"z_pos_mm":' || ${jsNum('z_pos_mm')} ||
  ',"feed_rate_actual":' || ${jsNum('feed_rate_actual')} || ',"spindle_load_percent":' || ${jsNum('spindle_load_percent')} ||
  ',"machine_state":' || CASE WHEN machine_state IS NULL THEN 'null' ELSE to_json(machine_state)::text END ||
  ',"active_program_line":' || coalesce(active_program_line::text, 'null') || ',"total_power_kw":' || ${jsNum('total_power_kw')} || '}'`

/** [timestamp, the reading's JSON or null, and when null its values as PostgreSQL text (ReadingRow[1..10])] */
export type JsonRow = [string, string | null, Array<string | null> | null]

const RAW_VALUES = `ARRAY[temperature::text, spindle_speed::text, x_pos_mm::text, y_pos_mm::text, z_pos_mm::text,
  feed_rate_actual::text, spindle_load_percent::text, machine_state, active_program_line::text, total_power_kw::text]`

const AFTER = `SELECT time, ${isoUtc('time')} AS ts, temperature, spindle_speed, x_pos_mm, y_pos_mm, z_pos_mm, feed_rate_actual,
    spindle_load_percent, machine_state, active_program_line, total_power_kw
  FROM sensor_data WHERE machine_id = $1 AND time > $2::timestamptz AND time <= $3::timestamptz ORDER BY time LIMIT $4`

/**
 * Readings with after < time <= end, oldest first, at most `limit`, each as [timestamp, JSON or
 * null, raw values when the JSON is null]. The fallback of readingsAfterPage for pages holding
 * values PostgreSQL does not write as JavaScript does, or ending inside a group of equal timestamps.
 */
export async function readingsAfterJson (db: pg.Pool, machineId: string, idJson: string, afterIso: string, endIso: string, limit: number): Promise<JsonRow[]> {
  const r = await db.query<JsonRow>({
    name: 'readings-after-json',
    text: `SELECT ts, j, CASE WHEN j IS NULL THEN ${RAW_VALUES} END FROM (SELECT *, ${readingJsonSql('$5::text')} AS j FROM (${AFTER}) s) t ORDER BY time`,
    values: [machineId, afterIso, endIso, limit, idJson],
    rowMode: 'array',
  })
  return r.rows
}

export interface AfterPage {
  /** Rows shown: those with after < time <= end, at most `limit`. */
  readonly shown: number
  /** Timestamp of the last row shown, and of the row after it (null: the window has no more). */
  readonly lastTs: string | null
  readonly nextTs: string | null
  /**
   * The JSON of the rows shown, joined by commas; null when there are none, or when one holds a
   * value only JavaScript writes right (jsNum): then ask readingsAfterJson.
   */
  readonly body: string | null
}

/**
 * A reading's fields for row_to_json, in the API's order and names: row_to_json writes float8 and
 * int4 with their output functions (the ::text form) and text as to_json does, in one pass, without
 * the copies of a chain of ||. `+ 0` turns -0 into 0 (IEEE: -0 + 0 = +0), as String(-0) does.
 */
const ROW_FIELDS = `SELECT $1::text AS machine_id, s.ts AS "timestamp", s.temperature + 0 AS temperature,
  s.spindle_speed + 0 AS spindle_speed, s.x_pos_mm + 0 AS x_pos_mm, s.y_pos_mm + 0 AS y_pos_mm, s.z_pos_mm + 0 AS z_pos_mm,
  s.feed_rate_actual + 0 AS feed_rate_actual, s.spindle_load_percent + 0 AS spindle_load_percent, s.machine_state,
  s.active_program_line, s.total_power_kw + 0 AS total_power_kw`
const ROW_JSON = 'row_to_json(x)::text'

/**
 * The page's readings as one string joined by PostgreSQL: the API thread receives one text instead
 * of 10,000 rows. Measured here, API-thread CPU per 10,000-row page: 44 ms parsing values and
 * writing JSON itself, 29 ms receiving JSON rows, 13 ms receiving one text. The aggregate reads the
 * sorted, limited subquery in its order (Agg over Limit over the index scan, nothing that could
 * reorder it); OFFSET 0 keeps the aggregate's subquery whole, so its text is made once.
 *
 * Numbers PostgreSQL writes otherwise than String(number) all contain "e-" or "e+" (|x| < 1e-4,
 * |x| ≥ 1e15) or are "NaN"/"Infinity" (quoted by row_to_json, bare in our JSON): a page whose text
 * holds any of these (or a machine_state that happens to) is null, and readPage asks
 * readingsAfterJson instead. The row after the page costs a second walk of `limit` index entries.
 */
export async function readingsAfterPage (db: pg.Pool, machineId: string, limit: number, afterIso: string, endIso: string): Promise<AfterPage> {
  const r = await db.query<[number, string | null, string | null, string | null]>({
    name: 'readings-after-page',
    text: `SELECT n, lt, nt, CASE WHEN strpos(b, 'e-') + strpos(b, 'e+') + strpos(b, '"NaN"') + strpos(b, 'Infinity"') = 0 THEN b END
           FROM (
             SELECT count(*)::int4 AS n, ${isoUtc('max(time)')} AS lt, string_agg(${ROW_JSON}, ',') AS b,
               (SELECT ${isoUtc('time')} FROM sensor_data WHERE machine_id = $1 AND time > $2::timestamptz AND time <= $3::timestamptz
                ORDER BY time OFFSET $4 LIMIT 1) AS nt
             FROM (${AFTER}) s CROSS JOIN LATERAL (${ROW_FIELDS}) x
             OFFSET 0
           ) p`,
    values: [machineId, afterIso, endIso, limit],
    rowMode: 'array',
  })
  const row = r.rows[0]
  return { shown: row?.[0] ?? 0, lastTs: row?.[1] ?? null, nextTs: row?.[2] ?? null, body: row?.[3] ?? null }
}

/** A JsonRow's reading as a ReadingRow (rows whose JSON PostgreSQL left to us). */
export function rawReading (ts: string, v: ReadonlyArray<string | null>): ReadingRow {
  const n = (i: number): number | null => v[i] === null || v[i] === undefined ? null : Number(v[i])
  return [ts, n(0) as number, n(1) as number, n(2), n(3), n(4), n(5), n(6), v[7] ?? null, n(8), n(9)]
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

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
 * null, raw values when the JSON is null]. The fallback of readingsAfterChunks for pages holding
 * values PostgreSQL does not write as JavaScript does.
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

/** Readings per chunk of readingsAfterChunks: ~300 KB of JSON, one streamed piece. */
export const CHUNK_ROWS = 1_000

export interface AfterChunks {
  /** Rows with after < time <= end, up to `limit` (one more than the caller shows: the boundary). */
  readonly found: number
  /** Timestamp of row number `limit` (the boundary) and of the row before it, when found reaches them. */
  readonly boundaryTs: string | null
  readonly beforeBoundaryTs: string | null
  /**
   * The shown rows: those before row `limit`, minus the rows sharing the boundary's timestamp
   * (readPage takes that group in key order). Each piece is CHUNK_ROWS readings' JSON joined by
   * commas; null when a piece holds a value only JavaScript writes right (see jsNum).
   */
  readonly pieces: Array<string | null>
  readonly shown: number
}

/**
 * readingsAfterJson's page, its JSON joined by PostgreSQL into pieces of CHUNK_ROWS readings: the
 * API thread receives a few large strings instead of 10,000 rows (measured here: 13 ms of its CPU
 * per 10,000-row page instead of 29 ms as rows, 44 ms parsing values and writing JSON itself), and
 * the JSON is written on the database's backends, in parallel with other requests.
 */
export async function readingsAfterChunks (db: pg.Pool, machineId: string, idJson: string, afterIso: string, endIso: string, limit: number): Promise<AfterChunks> {
  const r = await db.query<[string, string | null, string | null, string | null, number | null, string | null]>({
    name: 'readings-after-chunks',
    text: `WITH r AS (
             SELECT time, ts, ${readingJsonSql('$5::text')} AS j, row_number() OVER (ORDER BY time) AS rn FROM (${AFTER}) s
           ),
           sm AS (
             SELECT count(*) AS n, max(time) FILTER (WHERE rn = $4) AS bt,
               max(ts) FILTER (WHERE rn = $4) AS bts, max(ts) FILTER (WHERE rn = $4 - 1) AS lts FROM r
           ),
           c AS (
             SELECT (rn - 1) / ${CHUNK_ROWS} AS c, CASE WHEN bool_and(j IS NOT NULL) THEN string_agg(j, ',' ORDER BY rn) END AS body, count(*) AS k
             FROM r, sm WHERE rn < $4 AND (sm.bt IS NULL OR r.time < sm.bt) GROUP BY 1
           )
           SELECT sm.n::text, sm.bts, sm.lts, c.body, c.k::int4, c.c::text FROM sm LEFT JOIN c ON true ORDER BY c.c`,
    values: [machineId, afterIso, endIso, limit, idJson],
    rowMode: 'array',
  })
  const first = r.rows[0]
  const pieces: Array<string | null> = []
  let shown = 0
  for (const row of r.rows) {
    if (row[4] === null) continue
    pieces.push(row[3])
    shown += row[4]
  }
  return { found: Number(first?.[0] ?? 0), boundaryTs: first?.[1] ?? null, beforeBoundaryTs: first?.[2] ?? null, pieces, shown }
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

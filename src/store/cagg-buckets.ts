/**
 * Buckets of whole minutes answered from the continuous aggregate sensor_data_1m (TimescaleDB
 * Community), with the same request, bucket alignment and row shape as store/buckets.ts, so the
 * route can pick this path when `features.caggs` and the bucket is a whole number of minutes.
 *
 * The request's bounds are inclusive and need not fall on minutes. The range is cut in three:
 *
 *     start      lo = first whole minute ≥ start          hi = minute holding end + 1 µs      end
 *       |── head ──|═══════════ whole minutes: sensor_data_1m ═══════════|──── tail ────|
 *         raw rows, per minute                                             raw rows, per minute
 *
 * Each part yields one partial aggregate per minute (sum + count, min, max, last); the outer query
 * re-buckets those minutes into N-minute buckets. avg is Σsum / Σcount (never an average of averages),
 * so results equal the raw query's up to floating-point summation order. When lo > hi (a range
 * inside one minute) the middle is empty and head and tail split the range at lo without overlap.
 * Real-time aggregation (materialized_only = false) makes the middle include minutes newer than the
 * last refresh.
 */
import type { Agg, BucketRequest, BucketRow } from './buckets.js'
import { AGGREGATE_FIELDS as NUMERIC, LAST_FIELDS as LAST } from '../reading-fields.js'
import type { SqlClient } from '../write/sql-client.js'

/** time_bucket's default origin, shared with store/buckets.ts so both paths draw the same buckets. */
const ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"
const MINUTE = "INTERVAL '1 minute'"
const LO = `(date_bin(${MINUTE}, $2::timestamptz - INTERVAL '1 microsecond', ${ORIGIN}) + ${MINUTE})`
const HI = `date_bin(${MINUTE}, $3::timestamptz + INTERVAL '1 microsecond', ${ORIGIN})`
const ISO = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

/** Per agg: columns of one partial per minute, from the aggregate and from raw rows, and how to combine them. */
const PARTS: Record<Agg, { cagg: string[], raw: string[], outer: string[] }> = {
  avg: {
    cagg: NUMERIC.flatMap((f) => [`${f}_sum`, `${f}_n`]),
    raw: NUMERIC.flatMap((f) => [`sum(${f})`, `count(${f})`]),
    outer: NUMERIC.map((f) => `sum(p.${f}_sum) / NULLIF(sum(p.${f}_n), 0)::float8`),
  },
  min: { cagg: NUMERIC.map((f) => `${f}_min`), raw: NUMERIC.map((f) => `min(${f})`), outer: NUMERIC.map((f) => `min(p.${f}_min)`) },
  max: { cagg: NUMERIC.map((f) => `${f}_max`), raw: NUMERIC.map((f) => `max(${f})`), outer: NUMERIC.map((f) => `max(p.${f}_max)`) },
  last: { cagg: LAST.map((f) => `${f}_last`), raw: LAST.map((f) => `last(${f}, time)`), outer: LAST.map((f) => `last(p.${f}_last, p.m)`) },
}

function caggStatement (agg: Agg): string {
  const { cagg, raw, outer } = PARTS[agg]
  const rawPart = (range: string): string => `SELECT time_bucket(${MINUTE}, time) AS m, count(*) AS readings, ${raw.map((e, i) => `${e} AS ${cagg[i] as string}`).join(', ')}
      FROM sensor_data WHERE machine_id = $1 AND time >= $2::timestamptz AND time <= $3::timestamptz AND ${range} GROUP BY 1`
  return `SELECT ${ISO('b')} AS bucket, readings, ${outer.map((_, i) => `v${i}`).join(', ')} FROM (
    SELECT time_bucket($4::interval, p.m, ${ORIGIN}) AS b, sum(p.readings)::int AS readings, ${outer.map((e, i) => `${e} AS v${i}`).join(', ')}
    FROM (
      SELECT bucket AS m, readings, ${cagg.join(', ')}
      FROM sensor_data_1m WHERE machine_id = $1 AND bucket >= ${LO} AND bucket < ${HI}
      UNION ALL ${rawPart(`time < ${LO}`)}
      UNION ALL ${rawPart(`time >= greatest(${LO}, ${HI})`)}
    ) p GROUP BY 1) r ORDER BY r.b`
}

/** The plain-PostgreSQL equivalent over sensor_data with date_bin (the reference the tests compare with). */
function rawStatement (agg: Agg): string {
  const cols = agg === 'last' ? LAST : NUMERIC
  const inner = `SELECT date_bin($4::interval, time, ${ORIGIN}) AS b, * FROM sensor_data
    WHERE machine_id = $1 AND time >= $2::timestamptz AND time <= $3::timestamptz`
  if (agg === 'last') {
    return `SELECT DISTINCT ON (b) ${ISO('b')} AS bucket, (count(*) OVER (PARTITION BY b))::int AS readings, ${cols.map((f, i) => `${f} AS v${i}`).join(', ')}
      FROM (${inner}) s ORDER BY b, time DESC`
  }
  return `SELECT ${ISO('b')} AS bucket, count(*)::int AS readings, ${cols.map((f, i) => `${agg}(${f}) AS v${i}`).join(', ')}
    FROM (${inner}) s GROUP BY b ORDER BY b`
}

const AGG_NAMES: readonly Agg[] = ['avg', 'min', 'max', 'last']
const CAGG_SQL = Object.fromEntries(AGG_NAMES.map((a) => [a, caggStatement(a)])) as Record<Agg, string>
const RAW_SQL = Object.fromEntries(AGG_NAMES.map((a) => [a, rawStatement(a)])) as Record<Agg, string>

/** True when sensor_data_1m can answer buckets of this size: a whole number of minutes. */
export function caggAnswers (bucketSeconds: number): boolean {
  return Number.isInteger(bucketSeconds) && bucketSeconds >= 60 && bucketSeconds % 60 === 0
}

type Row = Record<string, string | number | null>

async function run (db: SqlClient, text: string, q: BucketRequest): Promise<BucketRow[]> {
  const width = q.agg === 'last' ? LAST.length : NUMERIC.length
  const r = await db.query<Row>(text, [q.machineId, q.startIso, q.endIso, `${q.bucketSeconds} seconds`])
  return r.rows.map((row) => {
    const out: BucketRow = [row.bucket as string, row.readings as number]
    for (let i = 0; i < width; i++) out.push(row[`v${i}`] ?? null)
    return out
  })
}

/** Buckets from sensor_data_1m (plus raw rows for partial edge minutes). Requires caggAnswers(bucketSeconds). */
export async function caggBuckets (db: SqlClient, q: BucketRequest): Promise<BucketRow[]> {
  if (!caggAnswers(q.bucketSeconds)) throw new RangeError(`bucket of ${q.bucketSeconds} s is not a whole number of minutes`)
  return run(db, CAGG_SQL[q.agg], q)
}

/** The same buckets straight from sensor_data with date_bin (any PostgreSQL ≥ 14). */
export async function rawBuckets (db: SqlClient, q: BucketRequest): Promise<BucketRow[]> {
  return run(db, RAW_SQL[q.agg], q)
}

/**
 * Wraps the mode's bucket query: whole-minute buckets come from sensor_data_1m, anything else from
 * `raw`. Use only when `features.caggs` (TimescaleDB Community), e.g.
 *   buckets: features.caggs ? withCagg(bucketQuery(features.mode)) : bucketQuery(features.mode)
 */
export function withCagg<D extends SqlClient> (raw: (db: D, q: BucketRequest) => Promise<BucketRow[]>): (db: D, q: BucketRequest) => Promise<BucketRow[]> {
  return (db, q) => caggAnswers(q.bucketSeconds) ? caggBuckets(db, q) : raw(db, q)
}

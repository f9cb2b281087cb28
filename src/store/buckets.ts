/**
 * Server-side aggregates per time bucket, for charts. The bucket function depends on the mode:
 * TimescaleDB's time_bucket, or date_bin on plain PostgreSQL (14+). Both are aligned to the same
 * origin (Monday 2000-01-03 UTC, time_bucket's default) so either mode draws the same buckets.
 * bucketQuery(mode) is the seam where a continuous-aggregate path can be swapped in.
 */
import type pg from 'pg'
import type { DbMode } from '../write/db-features.js'
import { AGGREGATE_FIELDS, LAST_FIELDS } from '../reading-fields.js'
import { isoUtc } from './machines.js'

export const AGGS = ['avg', 'min', 'max', 'last'] as const
export type Agg = typeof AGGS[number]

export interface BucketRequest {
  readonly machineId: string
  /** Inclusive bounds, RFC 3339 UTC with µs. */
  readonly startIso: string
  readonly endIso: string
  readonly bucketSeconds: number
  readonly agg: Agg
}

/** [bucket start, count, …fields of the agg (AGGREGATE_FIELDS, or LAST_FIELDS for last; reading-fields.ts)] */
export type BucketRow = [string, number, ...Array<number | string | null>]

export type BucketQuery = (db: pg.Pool, q: BucketRequest) => Promise<BucketRow[]>

const ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"

function statements (bucketExpr: string): Record<Agg, string> {
  const inner = `SELECT ${bucketExpr} AS b, * FROM sensor_data
    WHERE machine_id = $1 AND time >= $2::timestamptz AND time <= $3::timestamptz`
  const agg = (fn: string): string => `SELECT ${isoUtc('b')}, count(*)::int, ${AGGREGATE_FIELDS.map((f) => `${fn}(${f})`).join(', ')}
    FROM (${inner}) s GROUP BY b ORDER BY b`
  return {
    avg: agg('avg'),
    min: agg('min'),
    max: agg('max'),
    // DISTINCT ON keeps the newest row of each bucket; the window counts the bucket's rows.
    last: `SELECT DISTINCT ON (b) ${isoUtc('b')}, (count(*) OVER (PARTITION BY b))::int, ${LAST_FIELDS.join(', ')}
      FROM (${inner}) s ORDER BY b, time DESC`,
  }
}

const BUCKET_EXPR: Record<DbMode, string> = {
  timescaledb: `time_bucket($4::interval, time, ${ORIGIN})`,
  postgres: `date_bin($4::interval, time, ${ORIGIN})`,
}

export function bucketQuery (mode: DbMode): BucketQuery {
  const text = statements(BUCKET_EXPR[mode])
  return async (db, q) => {
    const r = await db.query<BucketRow>({
      name: `buckets-${mode}-${q.agg}`,
      text: text[q.agg],
      values: [q.machineId, q.startIso, q.endIso, `${q.bucketSeconds} seconds`],
      rowMode: 'array',
    })
    return r.rows
  }
}

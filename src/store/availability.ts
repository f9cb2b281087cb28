/**
 * Running, stopped and no-data seconds of machines inside planned intervals, and micro stops, in one
 * statement. The planned intervals (shifts minus breaks, already clipped to the window) come from
 * time/shift-calendar.ts as arrays; the state semantics are store/fleet.ts's STATE_PARTS, unchanged.
 *
 *   parts ─▶ cls (0 no data · 1 running · 2 stopped) ─▶ runs (maximal spans of one class per machine)
 *         ─▶ each run cut by the planned intervals it overlaps ─▶ sums per machine and period
 *
 * A run finds its intervals by binary search (width_bucket over the sorted interval starts), so the
 * cost is O(runs × log intervals), not runs × intervals. A micro stop is a stopped run shorter than
 * the threshold that ends with the machine running again (a stop cut by missing data or still going on
 * is not one); its duration is the whole run, also outside planned time, so the window's edges are
 * widened by the threshold to see it whole. It counts once, in the period of its first planned
 * instant; its seconds are its planned seconds, per period.
 */
import type { SqlClient } from '../write/sql-client.js'
import { ALL_MACHINE_IDS, STATE_PARTS } from './fleet.js'

const AVAILABILITY = `
WITH w AS (
  SELECT $2::timestamptz AS ws, $3::timestamptz AS we, make_interval(secs => $4::float8) AS gap
),
ids AS (SELECT unnest($1::text[]) AS machine_id),
${STATE_PARTS},
cls AS (
  SELECT machine_id, a, b, CASE WHEN kind = 'no_data' THEN 0 WHEN state = ANY($5::text[]) THEN 1 ELSE 2 END AS cat
  FROM parts WHERE b > a
),
brk AS (
  SELECT *, CASE WHEN cat = LAG(cat) OVER (PARTITION BY machine_id ORDER BY a) THEN 0 ELSE 1 END AS brk FROM cls
),
isl AS (SELECT *, sum(brk) OVER (PARTITION BY machine_id ORDER BY a ROWS UNBOUNDED PRECEDING) AS run FROM brk),
runs AS (SELECT machine_id, min(cat) AS cat, min(a) AS a, max(b) AS b FROM isl GROUP BY machine_id, run),
flagged AS (
  SELECT machine_id, cat, a, b, COALESCE(cat = 2 AND b - a < make_interval(secs => $6::float8)
    AND LEAD(cat) OVER (PARTITION BY machine_id ORDER BY a) = 1, false) AS micro
  FROM runs
),
hits AS (
  SELECT f.machine_id, f.cat, f.micro, f.a AS ra, ($9::int[])[k] AS period,
    GREATEST(f.a, ($7::timestamptz[])[k]) AS oa, LEAST(f.b, ($8::timestamptz[])[k]) AS ob
  FROM flagged f
  CROSS JOIN LATERAL generate_series(GREATEST(width_bucket(f.a, $7::timestamptz[]), 1), width_bucket(f.b, $7::timestamptz[])) AS k
),
cut AS (
  SELECT machine_id, cat, micro, period, extract(epoch FROM ob - oa)::float8 AS sec,
    row_number() OVER (PARTITION BY machine_id, ra ORDER BY oa) AS nth
  FROM hits WHERE ob > oa
)
SELECT machine_id, period,
  COALESCE(sum(sec) FILTER (WHERE cat = 1), 0)::float8 AS running,
  COALESCE(sum(sec) FILTER (WHERE cat = 2), 0)::float8 AS stopped,
  COALESCE(sum(sec) FILTER (WHERE cat = 0), 0)::float8 AS no_data,
  (count(*) FILTER (WHERE micro AND nth = 1))::int AS micro_count,
  COALESCE(sum(sec) FILTER (WHERE micro), 0)::float8 AS micro_seconds
FROM cut GROUP BY machine_id, period ORDER BY machine_id, period`

export interface AvailabilityQuery {
  readonly machineIds: readonly string[]
  /** Where state runs are measured: the window widened by the micro-stop threshold (end ≤ now). */
  readonly fromIso: string
  readonly toIso: string
  readonly maxGapSeconds: number
  readonly runningStates: readonly string[]
  readonly microStopSeconds: number
  /** Planned intervals [starts[i], ends[i]) of period periods[i]: sorted, disjoint, non-empty. */
  readonly starts: readonly string[]
  readonly ends: readonly string[]
  readonly periods: readonly number[]
}

export interface AvailabilityRow {
  readonly machine_id: string
  readonly period: number
  readonly running: number
  readonly stopped: number
  readonly no_data: number
  readonly micro_count: number
  readonly micro_seconds: number
}

/** A PostgreSQL array literal, every element quoted (pg and PGlite then agree on the parameter). */
export function arrayLiteral (values: ReadonlyArray<string | number>): string {
  return '{' + values.map((v) => typeof v === 'number' ? String(v) : '"' + v.replace(/[\\"]/g, '\\$&') + '"').join(',') + '}'
}

/** One row per machine and period with planned time (the runs tile the window, so every such period has one). */
export async function availabilityRows (db: SqlClient, q: AvailabilityQuery): Promise<AvailabilityRow[]> {
  if (q.starts.length === 0 || q.machineIds.length === 0) return []
  const r = await db.query<AvailabilityRow>(AVAILABILITY, [
    arrayLiteral(q.machineIds), q.fromIso, q.toIso, q.maxGapSeconds,
    arrayLiteral(q.runningStates), q.microStopSeconds, arrayLiteral(q.starts), arrayLiteral(q.ends), arrayLiteral(q.periods),
  ])
  return r.rows
}

/** Every machine with readings, ordered by id: the fleet. */
export async function machinesWithReadings (db: SqlClient): Promise<string[]> {
  const r = await db.query<{ machine_id: string }>(`WITH RECURSIVE ${ALL_MACHINE_IDS} SELECT machine_id FROM ids WHERE machine_id IS NOT NULL ORDER BY machine_id`)
  return r.rows.map((x) => x.machine_id)
}

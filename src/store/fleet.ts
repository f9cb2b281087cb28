/**
 * Fleet-wide reads: the latest reading of every machine, and time per machine_state over a window.
 *
 * fleetLatest walks the (machine_id, time DESC) index as a loose index scan: a recursive CTE
 * jumps from one machine_id to the next (one index probe per machine), then a LATERAL probe takes
 * each machine's newest row. Cost grows with machines, not rows; `SELECT DISTINCT ON (machine_id)`
 * reads every row instead (figures: bench/RESULTS.md, "Live feed").
 */
import type pg from 'pg'
import { READING_FIELDS, type ReadingRow } from '../reading-fields.js'
import { isoUtc } from './machines.js'

/** [machine_id, ...ReadingRow, age_seconds] */
export type FleetRow = [string, ...ReadingRow, number]

/** CTE `ids(machine_id)`: every machine with readings, one index probe each (NULL-terminated; needs WITH RECURSIVE). */
export const ALL_MACHINE_IDS = `ids AS (
  (SELECT machine_id FROM sensor_data ORDER BY machine_id LIMIT 1)
  UNION ALL
  SELECT (SELECT s.machine_id FROM sensor_data s WHERE s.machine_id > ids.machine_id ORDER BY s.machine_id LIMIT 1)
  FROM ids WHERE ids.machine_id IS NOT NULL
)`

/**
 * One page of machines after `$1` (exclusive; '' = from the first), at most `$2`. The depth counter
 * stops the recursion after $2 machines, so a page costs $2 index probes whatever the fleet's size
 * (the outer ORDER BY then sorts at most $2 rows).
 */
const FLEET_LATEST = `
WITH RECURSIVE ids AS (
  (SELECT machine_id, 1 AS n FROM sensor_data WHERE machine_id > $1 ORDER BY machine_id LIMIT 1)
  UNION ALL
  SELECT (SELECT s.machine_id FROM sensor_data s WHERE s.machine_id > ids.machine_id ORDER BY s.machine_id LIMIT 1), ids.n + 1
  FROM ids WHERE ids.machine_id IS NOT NULL AND ids.n < $2
)
SELECT ids.machine_id, ${isoUtc('l.time')}, ${READING_FIELDS.map((f) => `l.${f.name}`).join(', ')},
  extract(epoch FROM now() - l.time)::float8
FROM ids
CROSS JOIN LATERAL (
  SELECT * FROM sensor_data s WHERE s.machine_id = ids.machine_id ORDER BY s.time DESC LIMIT 1
) l
WHERE ids.machine_id IS NOT NULL
ORDER BY ids.machine_id`

/** The newest reading of at most `limit` machines with ids after `after` ('' = from the first), by id. */
export async function fleetLatest (db: pg.Pool, after: string, limit: number): Promise<FleetRow[]> {
  const r = await db.query<FleetRow>({ name: 'fleet-latest-page', text: FLEET_LATEST, values: [after, limit], rowMode: 'array' })
  return r.rows
}

/**
 * Seconds per machine_state over [start, LEAST(end, now())).
 *
 *   reading  p0 ──state A── p1 ──state B────────────── p2 ─ … ─▶ window end
 *            (last one at or before the start, then every one inside the window)
 *
 * Each reading's state holds until the next reading (LEAD), clipped to the window; the last one
 * holds until the window end. A state holds at most max_gap seconds: the rest of a longer gap,
 * and the time before the first reading known, is counted as no data (state_kind 'no_data').
 * State null: readings without a machine_state. Utilization = running seconds / window seconds.
 *
 * STATE_PARTS is the one statement of these semantics (store/availability.ts reuses it): over CTEs
 * `w(ws, we, gap)` and `ids(machine_id)` it yields `parts(machine_id, kind, state, a, b)`, spans
 * [a, b) that tile [ws, we) per machine (spans with b <= a are empty and to be skipped).
 */
export const STATE_PARTS = `
pts AS (
  SELECT i.machine_id, l.time, l.machine_state FROM ids i CROSS JOIN w CROSS JOIN LATERAL (
    SELECT s.time, s.machine_state FROM sensor_data s
    WHERE s.machine_id = i.machine_id AND s.time <= w.ws ORDER BY s.time DESC LIMIT 1) l
  UNION ALL
  SELECT s.machine_id, s.time, s.machine_state FROM ids i JOIN sensor_data s ON s.machine_id = i.machine_id, w
    WHERE s.time > w.ws AND s.time < w.we
),
seg AS (
  SELECT machine_id, machine_state AS state, time AS t0,
    COALESCE(LEAD(time) OVER (PARTITION BY machine_id ORDER BY time, machine_state), w.we) AS t1
  FROM pts, w
),
parts AS (
  SELECT machine_id, 'state' AS kind, state, GREATEST(t0, w.ws) AS a, LEAST(t1, t0 + w.gap, w.we) AS b FROM seg, w
  UNION ALL
  SELECT machine_id, 'no_data', NULL, GREATEST(t0 + w.gap, w.ws), LEAST(t1, w.we) FROM seg, w
  UNION ALL
  SELECT i.machine_id, 'no_data', NULL, w.ws, LEAST(COALESCE(f.t0, w.we), w.we)
  FROM ids i CROSS JOIN w LEFT JOIN (SELECT machine_id, min(t0) AS t0 FROM seg GROUP BY machine_id) f ON f.machine_id = i.machine_id
)`

const STATES = `
WITH w AS (
  SELECT $2::timestamptz AS ws, GREATEST($2::timestamptz, LEAST($3::timestamptz, now())) AS we,
         make_interval(secs => $4::float8) AS gap
),
ids AS (SELECT $1::text AS machine_id),
${STATE_PARTS},
per_state AS (
  SELECT kind, state, sum(extract(epoch FROM b - a))::float8 AS seconds,
         (kind = 'state' AND state = ANY($5::text[])) AS running
  FROM parts WHERE b > a GROUP BY kind, state
)
SELECT ${isoUtc('w.we')}, extract(epoch FROM w.we - w.ws)::float8, p.kind, p.state, p.seconds, p.running,
  COALESCE(sum(p.seconds) FILTER (WHERE p.running) OVER (), 0)::float8
FROM w LEFT JOIN per_state p ON true
ORDER BY p.seconds DESC NULLS LAST, p.kind, p.state`

/** [effective end, window_seconds, kind ('state' | 'no_data'), state, seconds, running, running_seconds] */
type Row = [string, number, string | null, string | null, number | null, boolean | null, number]

export interface StatesRequest {
  readonly machineId: string
  readonly startIso: string
  readonly endIso: string
  readonly maxGapSeconds: number
  readonly runningStates: readonly string[]
}

export interface StateSpan {
  readonly kind: 'state' | 'no_data'
  readonly state: string | null
  readonly seconds: number
  readonly running: boolean
}

export interface StatesResult {
  readonly spans: StateSpan[]
  /** Seconds from start to LEAST(end, now()) (0 when the window starts in the future). */
  readonly windowSeconds: number
  readonly runningSeconds: number
  /** The window's end as used: LEAST(end, now()), RFC 3339 µs. */
  readonly effectiveEndIso: string
}

/** One statement, so the window end and the durations see the same now(). */
export async function machineStates (db: pg.Pool, q: StatesRequest): Promise<StatesResult> {
  const r = await db.query<Row>({
    name: 'fleet-states',
    text: STATES,
    values: [q.machineId, q.startIso, q.endIso, q.maxGapSeconds, q.runningStates],
    rowMode: 'array',
  })
  const first = r.rows[0] as Row
  const spans: StateSpan[] = []
  for (const row of r.rows) {
    if (row[2] === null) continue
    spans.push({ kind: row[2] === 'no_data' ? 'no_data' : 'state', state: row[3], seconds: row[4] ?? 0, running: row[5] === true })
  }
  return { spans, windowSeconds: first[1], runningSeconds: first[6], effectiveEndIso: first[0] }
}

/**
 * Machine events derived from stored readings in one statement, so a restart neither invents nor
 * forgets one, and the same readings always give the same events:
 *
 *   consecutive readings p → r (by time, then machine_state)
 *     r.time − p.time > silence   offline at p.time + silence (from p's state)  +  online at r.time (to r's state)
 *     otherwise, state differs    state at r.time (from p's state to r's)
 *   the machine's first reading   online at its time (from null)
 *   the last reading, silent      offline at its time + silence, once that is not after the window end
 *
 * Every event with `at` after the computation start `from` is produced (an offline event at p + silence
 * needs p, the anchor: the last reading at or before `from`). previous_seconds is the time since the
 * event before; null when that one is before `from`. Events at one instant are ordered by (rank, to, from)
 * and numbered (ord), so (at, ord) is a keyset for paging.
 */
import type { SqlClient } from '../write/sql-client.js'
import { isoUtc } from './machines.js'

const EVENTS = `
WITH w AS (
  SELECT $2::timestamptz AS ws, $3::timestamptz AS after_at, $4::int AS after_ord, $5::timestamptz AS we,
         make_interval(secs => $6::float8) AS silence
),
pts AS (
  (SELECT s.time, s.machine_state, true AS anchor FROM sensor_data s, w
    WHERE s.machine_id = $1 AND s.time <= w.ws ORDER BY s.time DESC LIMIT 1)
  UNION ALL
  SELECT s.time, s.machine_state, false FROM sensor_data s, w
    WHERE s.machine_id = $1 AND s.time > w.ws AND s.time <= w.we
),
seq AS (
  SELECT time, machine_state AS st, anchor, LAG(time) OVER o AS pt, LAG(machine_state) OVER o AS pst, LEAD(time) OVER o AS nt
  FROM pts WINDOW o AS (ORDER BY time, machine_state)
),
ev AS (
  SELECT time AS at, 1 AS rank, 'online' AS type, NULL::text AS from_state, st AS to_state FROM seq WHERE pt IS NULL AND NOT anchor
  UNION ALL
  SELECT pt + w.silence, 0, 'offline', pst, 'offline' FROM seq, w WHERE time - pt > w.silence
  UNION ALL
  SELECT time, 1, 'online', 'offline', st FROM seq, w WHERE time - pt > w.silence
  UNION ALL
  SELECT time, 2, 'state', pst, st FROM seq, w WHERE time - pt <= w.silence AND st IS DISTINCT FROM pst
  UNION ALL
  SELECT time + w.silence, 0, 'offline', st, 'offline' FROM seq, w WHERE nt IS NULL AND time + w.silence <= w.we
),
timed AS (
  SELECT at, type, from_state, to_state,
    row_number() OVER (PARTITION BY at ORDER BY rank, to_state NULLS FIRST, from_state NULLS FIRST)::int AS ord,
    extract(epoch FROM at - LAG(at) OVER (ORDER BY at, rank, to_state NULLS FIRST, from_state NULLS FIRST))::float8 AS previous
  FROM ev
)
SELECT ${isoUtc('at')} AS at, ord, type, from_state, to_state, previous FROM timed, w
WHERE (at > w.after_at OR (at = w.after_at AND ord > w.after_ord)) AND at <= w.we
ORDER BY timed.at, ord
LIMIT $7`

export interface EventRow {
  readonly at: string
  readonly ord: number
  readonly type: 'offline' | 'online' | 'state'
  readonly from_state: string | null
  readonly to_state: string | null
  readonly previous: number | null
}

export interface EventsQuery {
  readonly machineId: string
  /** Computation start (see the header): readings from the last one at or before it. */
  readonly fromIso: string
  /** Events after (afterIso, afterOrd) in (at, ord) order … */
  readonly afterIso: string
  readonly afterOrd: number
  /** … up to and including this instant. */
  readonly endIso: string
  readonly silenceSeconds: number
  readonly limit: number
}

export async function machineEvents (db: SqlClient, q: EventsQuery): Promise<EventRow[]> {
  const r = await db.query<EventRow>(EVENTS, [q.machineId, q.fromIso, q.afterIso, q.afterOrd, q.endIso, q.silenceSeconds, q.limit])
  return r.rows
}

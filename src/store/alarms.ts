/**
 * Alarm episodes (table alarms, written by src/alarms/evaluator.ts), newest first, in keyset pages on
 * (started_at, id). An episode is in a window when it overlaps it: started at or before its end, and
 * still open or ended at or after its start.
 */
import { ALARM_COLUMNS, type AlarmRow } from '../alarms/alarm-row.js'
import type { SqlClient } from '../write/sql-client.js'

const LIST = `SELECT ${ALARM_COLUMNS} FROM alarms
WHERE ($1::text IS NULL OR machine_id = $1)
  AND ($2::boolean IS NULL OR (ended_at IS NULL) = $2)
  AND ($3::timestamptz IS NULL OR ended_at IS NULL OR ended_at >= $3)
  AND ($4::timestamptz IS NULL OR started_at <= $4)
  AND ($5::timestamptz IS NULL OR (started_at, id) < ($5, $6::int8))
ORDER BY started_at DESC, id DESC
LIMIT $7`

export interface AlarmQuery {
  readonly machineId: string | null
  /** true: open episodes only; false: ended ones only; null: both. */
  readonly active: boolean | null
  readonly startIso: string | null
  readonly endIso: string | null
  /** Episodes before (afterStartedIso, afterId) in (started_at DESC, id DESC) order. */
  readonly beforeStartedIso: string | null
  readonly beforeId: string | null
  readonly limit: number
}

export async function listAlarms (db: SqlClient, q: AlarmQuery): Promise<AlarmRow[]> {
  const r = await db.query<AlarmRow>(LIST, [q.machineId, q.active, q.startIso, q.endIso, q.beforeStartedIso, q.beforeId, q.limit])
  return r.rows
}

/**
 * An alarm episode as stored (table alarms) and as answered by GET /api/v1/alarms and pushed on the
 * live feed: one SELECT list and one serializer, so REST and the feed carry the same shape.
 */
import { isoUtc } from '../store/machines.js'

export const ALARM_COLUMNS = `id::text AS id, machine_id, rule, severity, field, comparison, threshold,
  ${isoUtc('started_at')} AS started_at, CASE WHEN ended_at IS NULL THEN NULL ELSE ${isoUtc('ended_at')} END AS ended_at, peak_value`

export interface AlarmRow {
  readonly id: string
  readonly machine_id: string
  readonly rule: string
  readonly severity: string
  readonly field: string
  readonly comparison: string
  readonly threshold: number
  readonly started_at: string
  readonly ended_at: string | null
  readonly peak_value: number
}

export function alarmJson (r: AlarmRow): string {
  return `{"id":${r.id},"machine_id":${JSON.stringify(r.machine_id)},"rule":${JSON.stringify(r.rule)},"severity":"${r.severity}",` +
    `"field":"${r.field}","comparison":"${r.comparison}","threshold":${r.threshold},"started_at":"${r.started_at}",` +
    `"ended_at":${r.ended_at === null ? 'null' : `"${r.ended_at}"`},"active":${r.ended_at === null},"peak_value":${r.peak_value}}`
}

/** The live-feed frame announcing an episode opened or cleared. */
export const alarmFrame = (event: 'opened' | 'cleared', r: AlarmRow): string =>
  `{"type":"alarm","event":"${event}","alarm":${alarmJson(r)}}`

/**
 * The Reading JSON serializers as they were written by hand before the field descriptor (one
 * template per shape), kept only as the baseline bench/reading-codec.ts measures
 * src/api/reading-json.ts against. Not used by the service; it lists the ten original fields.
 */
import { microsToIso, parseRfc3339Micros } from '../../src/parse/timestamp.js'

const num = (v: unknown): string => v === null ? 'null' : String(v)

export function templateRowJson (idJson: string, r: readonly unknown[]): string {
  return `{"machine_id":${idJson},"timestamp":"${r[0] as string}","temperature":${num(r[1])},"spindle_speed":${num(r[2])},` +
    `"x_pos_mm":${num(r[3])},"y_pos_mm":${num(r[4])},"z_pos_mm":${num(r[5])},"feed_rate_actual":${num(r[6])},` +
    `"spindle_load_percent":${num(r[7])},"machine_state":${r[8] === null ? 'null' : JSON.stringify(r[8])},` +
    `"active_program_line":${num(r[9])},"total_power_kw":${num(r[10])}}`
}

const fnum = (v: unknown): string => typeof v === 'number' && Number.isFinite(v) ? String(v) : 'null'
const str = (v: unknown): string => typeof v === 'string' ? JSON.stringify(v) : 'null'

export function templatePayloadJson (text: string): string | null {
  let r: Record<string, unknown>
  try {
    r = JSON.parse(text) as Record<string, unknown>
  } catch {
    return null
  }
  const raw = r.timestamp
  const us = typeof raw === 'string' ? parseRfc3339Micros(raw) : Number.NaN
  const ts = Number.isNaN(us) ? String(raw) : microsToIso(us)
  return `{"machine_id":${str(r.machine_id)},"timestamp":"${ts}","temperature":${fnum(r.temperature)},"spindle_speed":${fnum(r.spindle_speed)},` +
    `"x_pos_mm":${fnum(r.x_pos_mm)},"y_pos_mm":${fnum(r.y_pos_mm)},"z_pos_mm":${fnum(r.z_pos_mm)},"feed_rate_actual":${fnum(r.feed_rate_actual)},` +
    `"spindle_load_percent":${fnum(r.spindle_load_percent)},"machine_state":${str(r.machine_state)},` +
    `"active_program_line":${fnum(r.active_program_line)},"total_power_kw":${fnum(r.total_power_kw)}}`
}

/**
 * The alternative the service does not use, kept here so the choice stays measured: PostgreSQL's text
 * COPY format (tab-separated, `\N` for NULL, backslash escapes), built from a validated reading.
 */
import type { Reading } from '../../src/parse/reading-schema.js'

function esc (s: string): string {
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : s
}

const num = (v: number | null | undefined): string => (v == null ? '\\N' : String(v))

export function textCopyLine (r: Reading): string {
  return `${r.timestamp}\t${esc(r.machine_id)}\t${r.temperature}\t${r.spindle_speed}\t${num(r.x_pos_mm)}\t${num(r.y_pos_mm)}\t${num(r.z_pos_mm)}\t${num(r.feed_rate_actual)}\t${num(r.spindle_load_percent)}\t${r.machine_state == null ? '\\N' : esc(r.machine_state)}\t${r.active_program_line == null ? '\\N' : String(r.active_program_line)}\t${num(r.total_power_kw)}\n`
}

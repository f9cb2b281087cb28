/**
 * The one JSON form of a reading (the original API's SensorData, timestamps to the microsecond),
 * written by string building in field order: from numbers (readingJson) or from PostgreSQL's text
 * of them (readingJsonText, window pages), the same bytes; a test holds the two forms equal.
 */
import type { ReadingRow, TextRow } from '../store/readings.js'

const num = (v: number | null): string => v === null ? 'null' : String(v)

/** `idJson` is JSON.stringify(machine id), computed once per response. */
export function readingJson (idJson: string, r: ReadingRow): string {
  return `{"machine_id":${idJson},"timestamp":"${r[0]}","temperature":${num(r[1])},"spindle_speed":${num(r[2])},` +
    `"x_pos_mm":${num(r[3])},"y_pos_mm":${num(r[4])},"z_pos_mm":${num(r[5])},"feed_rate_actual":${num(r[6])},` +
    `"spindle_load_percent":${num(r[7])},"machine_state":${r[8] === null ? 'null' : JSON.stringify(r[8])},` +
    `"active_program_line":${num(r[9])},"total_power_kw":${num(r[10])}}`
}

/**
 * A float8 or int4 as PostgreSQL's text → as String(number) writes it. PostgreSQL writes the
 * shortest round-trip digits, as JavaScript does, and in fixed notation only for 1e-4 ≤ |x| < 1e15,
 * inside JavaScript's fixed range, so the text is already ours (NaN, Infinity, -Infinity too),
 * except exponent forms (1e-05, 1e+15) and -0: those go through Number.
 */
function numText (v: string | null): string {
  if (v === null) return 'null'
  return v.includes('e') || v === '-0' ? String(Number(v)) : v
}

/** readingJson over a row of PostgreSQL text (store/readings.ts readingsAfterText). */
export function readingJsonText (idJson: string, r: TextRow): string {
  return `{"machine_id":${idJson},"timestamp":"${r[0] as string}","temperature":${numText(r[1] ?? null)},"spindle_speed":${numText(r[2] ?? null)},` +
    `"x_pos_mm":${numText(r[3] ?? null)},"y_pos_mm":${numText(r[4] ?? null)},"z_pos_mm":${numText(r[5] ?? null)},"feed_rate_actual":${numText(r[6] ?? null)},` +
    `"spindle_load_percent":${numText(r[7] ?? null)},"machine_state":${r[8] === null || r[8] === undefined ? 'null' : JSON.stringify(r[8])},` +
    `"active_program_line":${r[9] ?? 'null'},"total_power_kw":${numText(r[10] ?? null)}}`
}

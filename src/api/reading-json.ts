/**
 * The one JSON form of a reading (the original API's SensorData, timestamps to the microsecond),
 * written by string building in field order. store/readings.ts has PostgreSQL write the same bytes
 * for window pages (readingJsonSql); a test holds the two forms equal.
 */
import type { ReadingRow } from '../store/readings.js'

const num = (v: number | null): string => v === null ? 'null' : String(v)

/** `idJson` is JSON.stringify(machine id), computed once per response. */
export function readingJson (idJson: string, r: ReadingRow): string {
  return `{"machine_id":${idJson},"timestamp":"${r[0]}","temperature":${num(r[1])},"spindle_speed":${num(r[2])},` +
    `"x_pos_mm":${num(r[3])},"y_pos_mm":${num(r[4])},"z_pos_mm":${num(r[5])},"feed_rate_actual":${num(r[6])},` +
    `"spindle_load_percent":${num(r[7])},"machine_state":${r[8] === null ? 'null' : JSON.stringify(r[8])},` +
    `"active_program_line":${num(r[9])},"total_power_kw":${num(r[10])}}`
}

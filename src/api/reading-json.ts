/**
 * The Reading JSON of the API (/data, /latest, /fleet/latest, the live feed), from the field
 * descriptor: machine_id, timestamp, then READING_FIELDS in order; numbers as String(v), text
 * through JSON.stringify, null for NULL. One key table built at load; per row a loop over it.
 * Measured against the former hand-written templates (bench/reading-codec.ts): within 3 %; figures in
 * the README, "Adding a reading field".
 */
import { READING_FIELDS, type ReadingRow } from '../reading-fields.js'
import { microsToIso, parseRfc3339Micros } from '../parse/timestamp.js'

/** `,"name":` per field, in READING_FIELDS order. */
const KEYS = READING_FIELDS.map((f) => `,"${f.name}":`)
const NAMES = READING_FIELDS.map((f) => f.name)
const TEXT = READING_FIELDS.map((f) => f.sql === 'text')
const N = READING_FIELDS.length

/**
 * `"timestamp":"…",…` (no braces) of the row whose timestamp is at `at` and whose fields follow it
 * (ReadingRow at 0, a row that starts with machine_id at 1).
 */
export function rowFieldsJson (r: ReadonlyArray<unknown>, at: number): string {
  let out = `"timestamp":"${r[at] as string}"`
  for (let i = 0; i < N; i++) {
    const v = r[at + 1 + i]
    out += KEYS[i] as string
    out += v === null || v === undefined ? 'null' : TEXT[i] === true ? JSON.stringify(v) : String(v)
  }
  return out
}

/** One stored reading of machine `idJson` (already JSON-encoded) as Reading JSON. */
export function rowJson (idJson: string, r: ReadingRow): string {
  return `{"machine_id":${idJson},${rowFieldsJson(r, 0)}}`
}

/**
 * One committed payload as Reading JSON (µs UTC timestamp of the data API); null if unreadable.
 * Values are read as the schema let them through: numbers finite or null, text a string or null.
 */
export function payloadJson (text: string): string | null {
  let r: Record<string, unknown>
  try {
    r = JSON.parse(text) as Record<string, unknown>
  } catch {
    return null
  }
  const raw = r.timestamp
  const us = typeof raw === 'string' ? parseRfc3339Micros(raw) : Number.NaN
  const id = r.machine_id
  let out = `{"machine_id":${typeof id === 'string' ? JSON.stringify(id) : 'null'},"timestamp":"${Number.isNaN(us) ? String(raw) : microsToIso(us)}"`
  for (let i = 0; i < N; i++) {
    const v = r[NAMES[i] as string]
    out += KEYS[i] as string
    if (TEXT[i] === true) out += typeof v === 'string' ? JSON.stringify(v) : 'null'
    else out += typeof v === 'number' && Number.isFinite(v) ? String(v) : 'null'
  }
  return out + '}'
}

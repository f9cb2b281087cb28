/**
 * Query and path parameters: RFC 3339 times kept to the microsecond (as bigint µs since
 * 2000-01-01Z, like the ingest parser), limits, machine ids, and opaque cursors (base64url JSON).
 * Every failure is a 400 whose message names the parameter and shows the expected form.
 */
import { MACHINE_ID_RULE, isMachineId } from '../machine-id.js'
import { parseRfc3339BigMicros } from '../parse/timestamp.js'
import { ApiErrorCode, HttpError, badParam, type Exchange } from './http.js'

/** Unix ms of the PostgreSQL epoch 2000-01-01T00:00:00Z. */
const PG_EPOCH_MS = 946_684_800_000n
/** 0001-01-01T00:00:00Z in µs since 2000: below it PostgreSQL has no year 0, we use -infinity. */
export const MIN_MICROS = -63_082_281_600_000_000n
/** 9999-12-31T23:59:59.999999Z: the last instant RFC 3339 (four-digit years) can write. */
export const MAX_MICROS = 252_455_615_999_999_999n

export const TIME_FORMAT = 'RFC 3339 with an offset, e.g. 2025-07-13T10:00:00Z, 2025-07-13T12:00:00.123456+02:00 (encode + as %2B)'

/** µs since 2000-01-01Z → `YYYY-MM-DDTHH:MM:SS.ffffffZ` (the API's and PostgreSQL's canonical form). */
export function microsToIso (us: bigint): string {
  if (us < MIN_MICROS) return '-infinity'
  if (us > MAX_MICROS) return 'infinity'
  let ms = us / 1000n
  if (us < 0n && us % 1000n !== 0n) ms -= 1n
  const rest = us - ms * 1000n
  const iso = new Date(Number(ms + PG_EPOCH_MS)).toISOString()
  return iso.slice(0, -1) + rest.toString().padStart(3, '0') + 'Z'
}

export function isoToMicros (text: string): bigint | null {
  return parseRfc3339BigMicros(text)
}

/** An optional RFC 3339 query parameter; undefined when absent. */
export function timeParam (ex: Exchange, name: string): bigint | undefined {
  const raw = ex.query.get(name)
  if (raw === null || raw === '') return undefined
  let us = parseRfc3339BigMicros(raw)
  // An unencoded '+' of an offset arrives as a space; the offset is still unambiguous.
  if (us === null && / \d{2}:\d{2}$/.test(raw)) us = parseRfc3339BigMicros(raw.slice(0, -6) + '+' + raw.slice(-5))
  if (us === null) throw badParam(`${name} must be ${TIME_FORMAT}; got ${JSON.stringify(raw.slice(0, 64))}`)
  if (us < MIN_MICROS || us > MAX_MICROS) throw badParam(`${name} must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z`)
  return us
}

export function intParam (ex: Exchange, name: string, dflt: number, min: number, max: number): number {
  const raw = ex.query.get(name)
  if (raw === null || raw === '') return dflt
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw badParam(`${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(raw.slice(0, 32))}`)
  }
  return Number(raw)
}

export function enumParam<T extends string> (ex: Exchange, name: string, allowed: readonly T[]): T | undefined {
  const raw = ex.query.get(name)
  if (raw === null || raw === '') return undefined
  if (!(allowed as readonly string[]).includes(raw)) throw badParam(`${name} must be one of ${allowed.join(', ')}; got ${JSON.stringify(raw.slice(0, 32))}`)
  return raw as T
}

/** The {id} path parameter: a machine id (machine-id.ts). */
export function machineIdParam (ex: Exchange): string {
  const id = ex.param(0, 'id')
  if (!isMachineId(id)) throw badParam(`id must be ${MACHINE_ID_RULE}`)
  return id
}

/** base64url of a cursor's JSON: a 128-character machine id (escaped) plus times and a row key fit. */
const CURSOR_MAX = 2048

export function encodeCursor (value: Record<string, string | number | null | ReadonlyArray<string | null>>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/**
 * Decodes a cursor made by encodeCursor; `check` returns the typed value or null when the
 * shape is wrong. Anything else (not base64url, not JSON, too long) is a 400 invalid_cursor.
 */
export function cursorParam<T> (ex: Exchange, check: (v: Record<string, unknown>) => T | null): T | undefined {
  const raw = ex.query.get('cursor')
  if (raw === null || raw === '') return undefined
  let value: T | null = null
  if (raw.length <= CURSOR_MAX && /^[A-Za-z0-9_-]+$/.test(raw)) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) value = check(parsed as Record<string, unknown>)
    } catch { /* falls through to the 400 */ }
  }
  if (value === null) throw new HttpError(ApiErrorCode.invalidCursor, 'cursor is not one this API returned (pass next_cursor unchanged)')
  return value
}

/** A µs timestamp string inside a cursor, re-validated: cursors come from clients. */
export function cursorMicros (v: unknown): bigint | null {
  return typeof v === 'string' ? parseRfc3339BigMicros(v) : null
}

/** Now, in µs since 2000-01-01Z. */
export function nowMicros (): bigint {
  return (BigInt(Date.now()) - PG_EPOCH_MS) * 1000n
}

/** One hour in µs: the default span of a window with a missing bound. */
export const HOUR_MICROS = 3_600_000_000n
/** Windows longer than this are refused at the edge (range_too_large) when both bounds are given. */
export const MAX_RANGE_DAYS = 366

/**
 * 400 `range_too_large` when end - start exceeds `maxDays` (counted in the refusal metric through
 * `onRefused`). The one place that words this refusal.
 */
export function checkRange (start: bigint, end: bigint, onRefused: () => void, maxDays = MAX_RANGE_DAYS): void {
  if (end - start <= BigInt(maxDays) * 24n * HOUR_MICROS) return
  onRefused()
  throw new HttpError(ApiErrorCode.rangeTooLarge, `end_time - start_time exceeds ${maxDays} days; page through shorter windows`)
}

/** 400 when start_time is after end_time. */
export function checkOrder (start: bigint, end: bigint): void {
  if (start > end) throw badParam(`start_time (${microsToIso(start)}) is after end_time (${microsToIso(end)})`)
}

/**
 * `start_time`/`end_time` with an hour as the default span: the last hour without either, one hour
 * from a single bound (a default end past 9999-12-31 is clamped: PostgreSQL cannot parse year 10000);
 * at most MAX_RANGE_DAYS.
 */
export function hourWindow (ex: Exchange, onRefused: () => void): { start: bigint, end: bigint } {
  const s = timeParam(ex, 'start_time')
  const e = timeParam(ex, 'end_time')
  const end = e ?? (s === undefined ? nowMicros() : (s + HOUR_MICROS > MAX_MICROS ? MAX_MICROS : s + HOUR_MICROS))
  const start = s ?? end - HOUR_MICROS
  checkOrder(start, end)
  checkRange(start, end, onRefused)
  return { start, end }
}

/**
 * GET /api/v1/machines/:id/data    readings in time order, keyset-paged, or per-bucket aggregates
 * GET /api/v1/machines/:id/latest  the reading with the greatest timestamp
 *
 * Paging invariant: a page never splits the rows that share one timestamp (sensor_data has no id
 * to break ties), so the cursor "after time T" returns every row exactly once, also while new
 * rows arrive. We fetch limit+1 rows; when the extra row's timestamp equals the page's last,
 * that whole group moves to the next page. A group larger than `limit` is returned whole.
 */
import { ApiErrorCode, HttpError, badParam, sendRows, type Exchange } from './http.js'
import type { HttpMetrics } from './http-metrics.js'
import { MAX_MICROS, cursorMicros, cursorParam, encodeCursor, enumParam, intParam, machineIdParam, microsToIso, nowMicros, timeParam } from './params.js'
import type { Route } from './router.js'
import { AGGS, LAST_FIELDS, NUMERIC_FIELDS, type BucketRow } from '../store/buckets.js'
import { latestReading, readingsAfter, readingsAt, type ReadingRow } from '../store/readings.js'
import type { StoreAccess } from './server.js'

export const DEFAULT_LIMIT = 1_000
export const MAX_LIMIT = 10_000
export const DEFAULT_MAX_POINTS = 2_000
export const MAX_POINTS = 20_000
const HOUR = 3_600_000_000n
/** Windows longer than this are refused at the edge (range_too_large). */
export const MAX_RANGE_DAYS = 366
const MAX_RANGE = BigInt(MAX_RANGE_DAYS) * 24n * HOUR

/** Bucket widths a too-fine request is widened to (seconds), then whole weeks. */
const NICE_WIDTHS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 }

interface DataCursor { readonly after: bigint, readonly start: bigint, readonly end: bigint }

const num = (v: number | null): string => v === null ? 'null' : String(v)

function readingJson (idJson: string, r: ReadingRow): string {
  return `{"machine_id":${idJson},"timestamp":"${r[0]}","temperature":${num(r[1])},"spindle_speed":${num(r[2])},` +
    `"x_pos_mm":${num(r[3])},"y_pos_mm":${num(r[4])},"z_pos_mm":${num(r[5])},"feed_rate_actual":${num(r[6])},` +
    `"spindle_load_percent":${num(r[7])},"machine_state":${r[8] === null ? 'null' : JSON.stringify(r[8])},` +
    `"active_program_line":${num(r[9])},"total_power_kw":${num(r[10])}}`
}

function window (ex: Exchange, metrics: HttpMetrics): { start: bigint, end: bigint } {
  const s = timeParam(ex, 'start_time')
  const e = timeParam(ex, 'end_time')
  // A default bound one hour past 9999-12-31 is clamped: PostgreSQL could not parse year 10000.
  const end = e ?? (s === undefined ? nowMicros() : (s + HOUR > MAX_MICROS ? MAX_MICROS : s + HOUR))
  const start = s ?? end - HOUR
  if (start > end) throw badParam(`start_time (${microsToIso(start)}) is after end_time (${microsToIso(end)})`)
  if (end - start > MAX_RANGE) {
    metrics.refused.inc({ reason: 'range_too_large' })
    throw new HttpError(400, ApiErrorCode.rangeTooLarge, `end_time - start_time exceeds ${MAX_RANGE_DAYS} days; page through shorter windows`)
  }
  return { start, end }
}

function bucketSeconds (ex: Exchange): number {
  const raw = ex.query.get('bucket') ?? ''
  const m = /^([1-9]\d{0,5})([smhd])$/.exec(raw)
  const secs = m === null ? NaN : Number(m[1]) * (UNIT_SECONDS[m[2] as string] ?? NaN)
  if (!(secs >= 1 && secs <= 31 * 86400)) throw badParam(`bucket must be a width like 10s, 1m, 15m, 1h or 1d (at most 31d); got ${JSON.stringify(raw.slice(0, 32))}`)
  return secs
}

/** Widens the bucket until the window holds at most maxPoints buckets. */
function widen (secs: number, rangeSeconds: number, maxPoints: number): number {
  if (rangeSeconds / secs + 1 <= maxPoints) return secs
  const need = rangeSeconds / (maxPoints - 1)
  for (const w of NICE_WIDTHS) if (w >= need && w >= secs) return w
  return Math.ceil(need / 604800) * 604800
}

export function readingRoutes (store: StoreAccess, metrics: HttpMetrics): Route[] {
  const checkCursor = (id: string) => (v: Record<string, unknown>): DataCursor | null => {
    const after = cursorMicros(v.a)
    const start = cursorMicros(v.s)
    const end = cursorMicros(v.e)
    if (v.v !== 1 || v.m !== id || after === null || start === null || end === null) return null
    return { after, start, end }
  }

  async function getData (ex: Exchange): Promise<void> {
    const id = machineIdParam(ex)
    const agg = enumParam(ex, 'agg', AGGS)
    if (agg !== undefined || ex.query.has('bucket')) {
      if (agg === undefined) throw badParam(`agg is required with bucket: one of ${AGGS.join(', ')}`)
      if (!ex.query.has('bucket')) throw badParam('bucket is required with agg, e.g. bucket=1m')
      const asked = bucketSeconds(ex)
      const maxPoints = intParam(ex, 'max_points', DEFAULT_MAX_POINTS, 2, MAX_POINTS)
      const { start, end } = window(ex, metrics)
      const secs = widen(asked, Number(end - start) / 1e6, maxPoints)
      const { db, buckets } = store()
      const q = { machineId: id, startIso: microsToIso(start), endIso: microsToIso(end), bucketSeconds: secs, agg }
      const rows = await buckets(db, q)
      const fields = agg === 'last' ? LAST_FIELDS : NUMERIC_FIELDS
      const head = `{"machine_id":${JSON.stringify(id)},"start_time":"${q.startIso}","end_time":"${q.endIso}","agg":"${agg}",` +
        `"bucket_seconds":${secs},"requested_bucket_seconds":${asked},"count":${rows.length},"data":`
      const one = (r: BucketRow): string => {
        let out = `{"bucket":"${r[0]}","count":${r[1]}`
        for (let i = 0; i < fields.length; i++) {
          const v = r[i + 2]
          out += `,"${fields[i] as string}":${v === null || v === undefined ? 'null' : typeof v === 'string' ? JSON.stringify(v) : String(v)}`
        }
        return out + '}'
      }
      await sendRows(ex, head, rows, one)
      return
    }
    const limit = intParam(ex, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT)
    const cursor = cursorParam(ex, checkCursor(id))
    const { start, end } = cursor ?? window(ex, metrics)
    const after = cursor?.after ?? start - 1n
    const { db } = store()
    const endIso = microsToIso(end)
    let rows = await readingsAfter(db, id, microsToIso(after), endIso, limit + 1)
    let next: string | null = null
    if (rows.length > limit) {
      const boundary = (rows[limit] as ReadingRow)[0]
      let cut = limit
      while (cut > 0 && (rows[cut - 1] as ReadingRow)[0] === boundary) cut--
      if (cut === 0) {
        rows = await readingsAt(db, id, boundary)
        cut = rows.length
      }
      rows = rows.slice(0, cut)
      const last = (rows[cut - 1] as ReadingRow)[0]
      next = encodeCursor({ v: 1, m: id, a: last, s: microsToIso(start), e: endIso })
    }
    if (ex.aborted) return
    const idJson = JSON.stringify(id)
    const head = `{"machine_id":${idJson},"start_time":"${microsToIso(start)}","end_time":"${endIso}","limit":${limit},` +
      `"count":${rows.length},"has_more":${next !== null},"next_cursor":${next === null ? 'null' : `"${next}"`},"data":`
    await sendRows(ex, head, rows, (r) => readingJson(idJson, r))
  }

  async function getLatest (ex: Exchange): Promise<void> {
    const id = machineIdParam(ex)
    const row = await latestReading(store().db, id)
    if (row === undefined) throw new HttpError(404, ApiErrorCode.notFound, `no readings for machine ${JSON.stringify(id)}`)
    ex.send(200, readingJson(JSON.stringify(id), row))
  }

  return [
    { method: 'GET', pattern: '/api/v1/machines/:id/data', auth: true, handler: getData },
    { method: 'GET', pattern: '/api/v1/machines/:id/latest', auth: true, handler: getLatest },
  ]
}

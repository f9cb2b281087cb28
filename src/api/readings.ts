/**
 * GET /api/v1/machines/:id/data    the original API's contract: a JSON array of readings, oldest
 *                                  first; paging in headers (Link rel="next", X-Result-Count)
 * GET /api/v2/machines/:id/data    the same pages in an envelope {machine_id, …, next_cursor, data}
 * GET …/data?bucket=&agg=          aggregates per time bucket (an envelope on both versions)
 * GET /api/v1/machines/:id/latest  the reading with the greatest timestamp
 *
 * Window defaults are the original's: no start_time = year 1, no end_time = now + 24 h, so no
 * parameters means all data, paged. The 366-day bound applies to windows given with both bounds
 * (and to aggregates, which read the whole window); a page's cost is bounded by `limit` through
 * the index whatever the window, so default windows page through everything via `next`.
 * Paging: reading-pages.ts (each page at most `limit` rows, also inside a group of equal timestamps).
 */
import { ApiErrorCode, HttpError, badParam, sendParts, sendRows, type Exchange } from './http.js'
import type { HttpMetrics } from './http-metrics.js'
import { TurnBatch, type Detached } from './turn-batch.js'
import { HOUR_MICROS, MAX_MICROS, MAX_RANGE_DAYS, MIN_MICROS, checkRange, cursorParam, encodeCursor, enumParam, hourWindow, intParam, machineIdParam, microsToIso, nowMicros, timeParam } from './params.js'
import { checkCursor, readPage, readPageJson, type JsonPage, type Page } from './reading-pages.js'
import type { Route } from './router.js'
import { AGGS, type BucketRow } from '../store/buckets.js'
import { latestReadings } from '../store/readings.js'
import { AGGREGATE_FIELDS, LAST_FIELDS, type ReadingRow } from '../reading-fields.js'
import { rowJson } from './reading-json.js'
import type { StoreAccess } from './store-access.js'
import type { PageEncoder } from './page-encoder.js'

export const DEFAULT_LIMIT = 1_000
export const MAX_LIMIT = 10_000
export const DEFAULT_MAX_POINTS = 2_000
export const MAX_POINTS = 20_000
/** Response header with the number of readings in this page (the array's length). */
export { MAX_RANGE_DAYS }
export const COUNT_HEADER = 'X-Result-Count'

/** Bucket widths a too-fine request is widened to (seconds), then whole weeks. */
const NICE_WIDTHS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 }
/** Streamed pages are cut into chunks of about this many characters. */
const CHUNK_CHARS = 64 * 1024

/** Readings window, the original's defaults (see the file header). A default end before start_time is an empty window. */
function dataWindow (ex: Exchange, metrics: HttpMetrics): { start: bigint, end: bigint } {
  const s = timeParam(ex, 'start_time')
  const e = timeParam(ex, 'end_time')
  const start = s ?? MIN_MICROS
  let end = e ?? nowMicros() + 24n * HOUR_MICROS
  if (end > MAX_MICROS) end = MAX_MICROS
  if (start > end) {
    if (e !== undefined) throw badParam(`start_time (${microsToIso(start)}) is after end_time (${microsToIso(end)})`)
    end = start - 1n
  }
  if (s !== undefined && e !== undefined) checkRange(start, end, () => metrics.refused.inc({ reason: 'range_too_large' }))
  return { start, end }
}

/** Aggregates window: the last hour by default, one hour from a single bound, at most 366 days. */
function bucketWindow (ex: Exchange, metrics: HttpMetrics): { start: bigint, end: bigint } {
  return hourWindow(ex, () => metrics.refused.inc({ reason: 'range_too_large' }))
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

function * arrayChunks (rows: readonly ReadingRow[], idJson: string): Generator<string> {
  let out = '['
  for (let i = 0; i < rows.length; i++) {
    out += (i === 0 ? '' : ',') + rowJson(idJson, rows[i] as ReadingRow)
    if (out.length >= CHUNK_CHARS) { yield out; out = '' }
  }
  yield out + ']'
}

/** A bare JSON array; one end() when it fits a chunk, else streamed with backpressure. */
async function sendArray (ex: Exchange, rows: readonly ReadingRow[], idJson: string, headers: Record<string, string>): Promise<void> {
  const chunks = arrayChunks(rows, idJson)
  const first = chunks.next().value ?? '[]'
  const second = chunks.next()
  if (second.done === true) {
    ex.send(200, first, 'application/json', headers)
    return
  }
  await ex.stream((function * () {
    yield first
    yield second.value
    yield * chunks
  })(), headers)
}

export function readingRoutes (store: StoreAccess, metrics: HttpMetrics, detached: Detached, encoder: PageEncoder): Route[] {
  const latestBatch = new TurnBatch((ids: string[]) => latestReadings(store().db, ids), detached)

  async function getBuckets (ex: Exchange, id: string): Promise<void> {
    const agg = enumParam(ex, 'agg', AGGS)
    if (agg === undefined) throw badParam(`agg is required with bucket: one of ${AGGS.join(', ')}`)
    if (!ex.query.has('bucket')) throw badParam('bucket is required with agg, e.g. bucket=1m')
    const asked = bucketSeconds(ex)
    const maxPoints = intParam(ex, 'max_points', DEFAULT_MAX_POINTS, 2, MAX_POINTS)
    const { start, end } = bucketWindow(ex, metrics)
    const secs = widen(asked, Number(end - start) / 1e6, maxPoints)
    const { db, buckets } = store()
    const q = { machineId: id, startIso: microsToIso(start), endIso: microsToIso(end), bucketSeconds: secs, agg }
    const rows = await buckets(db, q)
    const fields = agg === 'last' ? LAST_FIELDS : AGGREGATE_FIELDS
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
  }

  const getData = (envelope: boolean) => async (ex: Exchange): Promise<void> => {
    const id = machineIdParam(ex)
    if (ex.query.has('agg') || ex.query.has('bucket')) return getBuckets(ex, id)
    const limit = intParam(ex, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT)
    const cursor = cursorParam(ex, checkCursor(id))
    const { start, end } = cursor ?? dataWindow(ex, metrics)
    const endIso = microsToIso(end)
    const afterIso = microsToIso(cursor === undefined ? start - 1n : cursor.t)
    const idJson = JSON.stringify(id)
    const { db } = store()
    // Pages that end between two timestamps (nearly all) go from COPY to JSON bytes (reading-pages.ts).
    const fast = cursor === undefined || cursor.k === null ? await readPageJson(db, encoder, id, idJson, afterIso, endIso, limit) : null
    const page: JsonPage | Page = fast ?? await readPage(db, id, afterIso, cursor?.k ?? null, cursor?.n ?? 0, endIso, limit)
    if (ex.aborted) return
    const count = 'body' in page ? page.count : page.rows.length
    const next = page.next === null ? null : encodeCursor({ v: 2, m: id, ...page.next, s: microsToIso(start), e: endIso })
    const headers: Record<string, string> = {}
    let head = ''
    let tail = ']'
    if (!envelope) {
      headers[COUNT_HEADER] = String(count)
      if (next !== null) headers.Link = `</api/v1/machines/${encodeURIComponent(id)}/data?cursor=${next}&limit=${limit}>; rel="next"`
    } else {
      head = `{"machine_id":${idJson},"start_time":"${microsToIso(start)}","end_time":"${endIso}","limit":${limit},` +
        `"count":${count},"has_more":${next !== null},"next_cursor":${next === null ? 'null' : `"${next}"`},"data":`
      tail = ']}'
    }
    if ('body' in page) await sendParts(ex, [head + '[', page.body, tail], headers)
    else if (envelope) await sendRows(ex, head, page.rows, (r) => rowJson(idJson, r))
    else await sendArray(ex, page.rows, idJson, headers)
  }

  async function getLatest (ex: Exchange): Promise<void> {
    const id = machineIdParam(ex)
    // One statement for all /latest requests of this event-loop turn (turn-batch.ts).
    const row = await latestBatch.get(id)
    if (row === undefined) throw new HttpError(ApiErrorCode.notFound, `no readings for machine ${JSON.stringify(id)}`)
    ex.send(200, rowJson(JSON.stringify(id), row))
  }

  return [
    { method: 'GET', pattern: '/api/v1/machines/:id/data', auth: true, handler: getData(false) },
    { method: 'GET', pattern: '/api/v2/machines/:id/data', auth: true, handler: getData(true) },
    { method: 'GET', pattern: '/api/v1/machines/:id/latest', auth: true, handler: getLatest },
  ]
}

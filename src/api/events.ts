/**
 * GET /api/v1/machines/:id/events   offline / online / machine_state changes over a window, oldest
 * first, derived from stored readings (store/events.ts), in keyset pages.
 *
 * Window as for /data (default the last hour; at most 366 days), measured up to min(end_time, now):
 * an offline event exists once the silence has passed. previous_seconds of the first event of a first
 * page looks back at most LOOKBACK before start_time (beyond: null); a cursor page recomputes from
 * the cursor's event, so each event has the same previous_seconds on whatever page it lands.
 */
import { sendRows, type Exchange } from './http.js'
import type { HttpMetrics } from './http-metrics.js'
import { HOUR_MICROS, cursorMicros, cursorParam, encodeCursor, hourWindow, intParam, machineIdParam, microsToIso, nowMicros } from './params.js'
import type { Route } from './router.js'
import type { StoreAccess } from './store-access.js'
import { machineEvents, type EventRow } from '../store/events.js'

export const DEFAULT_EVENTS_LIMIT = 1_000
export const MAX_EVENTS_LIMIT = 10_000
/** Readings scanned before start_time to find the span the first event ends (1 h at 10 Hz = 36k rows). */
const LOOKBACK = HOUR_MICROS

const str = (v: string | null): string => v === null ? 'null' : JSON.stringify(v)
const eventJson = (r: EventRow): string =>
  `{"type":"${r.type}","at":"${r.at}","from":${str(r.from_state)},"to":${str(r.to_state)},` +
  `"previous_seconds":${r.previous === null ? 'null' : String(Math.round(r.previous * 1e6) / 1e6)}}`

interface EventCursor { readonly at: bigint, readonly ord: number, readonly start: bigint, readonly end: bigint }

export function eventRoutes (store: StoreAccess, metrics: HttpMetrics, offlineAfterSeconds: number): Route[] {
  const silence = BigInt(offlineAfterSeconds) * 1_000_000n
  const checkCursor = (id: string) => (v: Record<string, unknown>): EventCursor | null => {
    const at = cursorMicros(v.a)
    const start = cursorMicros(v.s)
    const end = cursorMicros(v.e)
    if (v.v !== 1 || v.m !== id || at === null || start === null || end === null) return null
    if (typeof v.n !== 'number' || !Number.isInteger(v.n) || v.n < 1) return null
    return { at, ord: v.n, start, end }
  }

  function window (ex: Exchange): { start: bigint, end: bigint } {
    return hourWindow(ex, () => metrics.refused.inc({ reason: 'range_too_large' }))
  }

  async function events (ex: Exchange): Promise<void> {
    const id = machineIdParam(ex)
    const limit = intParam(ex, 'limit', DEFAULT_EVENTS_LIMIT, 1, MAX_EVENTS_LIMIT)
    const cursor = cursorParam(ex, checkCursor(id))
    const { start, end } = cursor ?? window(ex)
    const now = nowMicros()
    const effEnd = end < now ? end : (start > now ? start : now)
    const after = cursor?.at ?? start - 1n
    const from = cursor === undefined ? start - (LOOKBACK > silence ? LOOKBACK : silence) : cursor.at - silence
    const rows = await machineEvents(store().db, {
      machineId: id,
      fromIso: microsToIso(from),
      afterIso: microsToIso(after),
      afterOrd: cursor?.ord ?? 0,
      endIso: microsToIso(effEnd),
      silenceSeconds: offlineAfterSeconds,
      limit: limit + 1,
    })
    const more = rows.length > limit
    const page = more ? rows.slice(0, limit) : rows
    const last = page[page.length - 1]
    const next = more && last !== undefined
      ? encodeCursor({ v: 1, m: id, a: last.at, n: last.ord, s: microsToIso(start), e: microsToIso(end) })
      : null
    if (ex.aborted) return
    const head = `{"machine_id":${JSON.stringify(id)},"start_time":"${microsToIso(start)}","end_time":"${microsToIso(end)}",` +
      `"effective_end_time":"${microsToIso(effEnd)}","offline_after_seconds":${offlineAfterSeconds},"limit":${limit},"count":${page.length},` +
      `"has_more":${more},"next_cursor":${next === null ? 'null' : `"${next}"`},"data":`
    await sendRows(ex, head, page, eventJson)
  }

  return [{ method: 'GET', pattern: '/api/v1/machines/:id/events', auth: true, handler: events }]
}

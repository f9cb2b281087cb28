/**
 * GET /api/v1/fleet/latest?limit=&cursor=   the newest reading of each machine, with its age and stale
 *                                            flag, by machine id, in pages (limit ≤ MAX_FLEET_LIMIT)
 * GET /api/v1/machines/:id/states     seconds per machine_state over a window, and utilization
 *
 * Both computed in SQL (store/fleet.ts). Utilization = seconds in fleet.running_states / seconds
 * of the window, where the window ends at LEAST(end_time, now()): the future is not idle time.
 *
 * fleet/latest pages: publishers can invent any number of machine ids, so one answer over all of
 * them would be unbounded in bytes, database time and serialization time. A page costs `limit`
 * index probes and at most limit × ~1 KB of JSON, streamed (sendRows); the cursor is the last
 * machine id of the page (base64url of its UTF-8), so ids added meanwhile are never skipped twice.
 */
import { ApiErrorCode, HttpError, sendRows, type Exchange } from './http.js'
import type { HttpMetrics } from './http-metrics.js'
import { isMachineId } from '../machine-id.js'
import { rowFieldsJson } from './reading-json.js'
import { TurnBatch, type Detached } from './turn-batch.js'
import { hourWindow, intParam, machineIdParam, microsToIso, nowMicros } from './params.js'
import type { Route } from './router.js'
import type { StoreAccess } from './store-access.js'
import { fleetLatest, machineStates, type FleetRow } from '../store/fleet.js'

export interface FleetOptions {
  readonly runningStates: readonly string[]
  readonly staleAfterSeconds: number
  readonly maxGapSeconds: number
}

export const DEFAULT_FLEET_LIMIT = 1_000
export const MAX_FLEET_LIMIT = 5_000
/** base64url of a machine id: at most 128 characters × 4 UTF-8 bytes. */
const MAX_CURSOR_CHARS = 700

const round6 = (v: number): number => Math.round(v * 1e6) / 1e6

function fleetJson (r: FleetRow, staleAfter: number): string {
  const age = r[r.length - 1] as number
  return `{"machine_id":${JSON.stringify(r[0])},${rowFieldsJson(r, 1)},"age_seconds":${round6(age)},"stale":${age > staleAfter}}`
}

export const fleetCursor = (lastId: string): string => Buffer.from(lastId, 'utf8').toString('base64url')

/** The machine id a fleet cursor names; 400 invalid_cursor for anything fleetCursor did not make. */
function cursorId (ex: Exchange): string {
  const raw = ex.query.get('cursor')
  if (raw === null || raw === '') return ''
  if (raw.length <= MAX_CURSOR_CHARS && /^[A-Za-z0-9_-]+$/.test(raw)) {
    const id = Buffer.from(raw, 'base64url').toString('utf8')
    if (isMachineId(id) && fleetCursor(id) === raw) return id
  }
  throw new HttpError(ApiErrorCode.invalidCursor, 'cursor is not one this API returned (pass next_cursor unchanged)')
}

export function fleetRoutes (store: StoreAccess, metrics: HttpMetrics, opts: FleetOptions, detached: Detached): Route[] {
  // Requests of one event-loop turn for the same page share its read (turn-batch.ts). Key: limit + 1, NUL, after.
  const pages = new TurnBatch(async (keys: string[]) => {
    const out = new Map<string, FleetRow[]>()
    for (const k of keys) {
      const cut = k.indexOf('\u0000')
      out.set(k, await fleetLatest(store().db, k.slice(cut + 1), Number(k.slice(0, cut))))
    }
    return out
  }, detached)

  async function latest (ex: Exchange): Promise<void> {
    const limit = intParam(ex, 'limit', DEFAULT_FLEET_LIMIT, 1, MAX_FLEET_LIMIT)
    const after = cursorId(ex)
    const rows = (await pages.get(`${limit + 1}\u0000${after}`)) ?? []
    const more = rows.length > limit
    const page = more ? rows.slice(0, limit) : rows
    const last = page[page.length - 1]
    const next = more && last !== undefined ? fleetCursor(last[0]) : null
    const head = `{"as_of":"${microsToIso(nowMicros())}","stale_after_seconds":${opts.staleAfterSeconds},"limit":${limit},` +
      `"count":${page.length},"has_more":${more},"next_cursor":${JSON.stringify(next)},"data":`
    await sendRows(ex, head, page, (r) => fleetJson(r, opts.staleAfterSeconds))
  }

  async function states (ex: Exchange): Promise<void> {
    const id = machineIdParam(ex)
    const { start, end } = hourWindow(ex, () => metrics.refused.inc({ reason: 'range_too_large' }))
    const startIso = microsToIso(start)
    const endIso = microsToIso(end)
    const r = await machineStates(store().db, {
      machineId: id, startIso, endIso, maxGapSeconds: opts.maxGapSeconds, runningStates: opts.runningStates,
    })
    const share = (v: number): number | null => r.windowSeconds > 0 ? round6(v / r.windowSeconds) : null
    const noData = r.spans.filter((x) => x.kind === 'no_data').reduce((sum, x) => sum + x.seconds, 0)
    const known = r.windowSeconds - noData
    ex.json(200, {
      machine_id: id,
      start_time: startIso,
      end_time: endIso,
      effective_end_time: r.effectiveEndIso,
      window_seconds: round6(r.windowSeconds),
      running_states: opts.runningStates,
      max_gap_seconds: opts.maxGapSeconds,
      running_seconds: round6(r.runningSeconds),
      no_data_seconds: round6(noData),
      utilization: share(r.runningSeconds),
      utilization_of_known: known > 1e-9 ? round6(r.runningSeconds / known) : null,
      states: r.spans.filter((x) => x.kind === 'state')
        .map((x) => ({ state: x.state, seconds: round6(x.seconds), share: share(x.seconds), running: x.running })),
    })
  }

  return [
    { method: 'GET', pattern: '/api/v1/fleet/latest', auth: true, handler: latest },
    { method: 'GET', pattern: '/api/v1/machines/:id/states', auth: true, handler: states },
  ]
}

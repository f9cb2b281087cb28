/**
 * GET /api/v1/machines/:id/availability   per shift (or production day): planned, running, stopped,
 * GET /api/v1/fleet/availability          no-data seconds, availability = running / planned, micro stops
 *
 * Periods are computed here from the shift calendar (time/shift-calendar.ts: Intl, the plant's time
 * zone), the seconds in SQL (store/availability.ts, over store/fleet.ts's state semantics). Only planned
 * time is measured, up to min(end_time, now): running + stopped + no_data = planned.
 */
import type { Exchange } from './http.js'
import type { HttpMetrics } from './http-metrics.js'
import { MAX_RANGE_DAYS, checkOrder, checkRange, enumParam, machineIdParam, microsToIso, nowMicros, timeParam } from './params.js'
import type { Route } from './router.js'
import type { StoreAccess } from './store-access.js'
import { availabilityRows, machinesWithReadings, type AvailabilityRow } from '../store/availability.js'
import type { ShiftCalendar } from '../time/shift-calendar.js'
import { dayToIsoDate, localDay, wallToInstant } from '../time/zoned.js'

export interface PlantOptions {
  readonly calendar: ShiftCalendar
  readonly runningStates: readonly string[]
  readonly maxGapSeconds: number
  readonly microStopSeconds: number
  /** Silence before a machine is offline (events). */
  readonly offlineAfterSeconds: number
}

/** The fleet answer holds machines × periods entries: its window is shorter. */
export const MAX_FLEET_RANGE_DAYS = 31
const GROUPS = ['shift', 'day'] as const
const PG_EPOCH_MS = 946_684_800_000
const toMicros = (ms: number): bigint => (BigInt(ms) - BigInt(PG_EPOCH_MS)) * 1000n
const toMs = (us: bigint): number => Number(us / 1000n) + PG_EPOCH_MS
const round6 = (v: number): number => Math.round(v * 1e6) / 1e6

export interface Period {
  readonly shift: string | null
  readonly day: number
  readonly startMs: number
  readonly endMs: number
  plannedUs: bigint
}

interface Sums { running: number, stopped: number, noData: number, microCount: number, microSeconds: number }

export interface Plan {
  readonly periods: Period[]
  /** Period indexes in start order. */
  readonly order: number[]
  /** Planned intervals inside [start, effEnd), sorted and disjoint, with the period each belongs to. */
  readonly starts: string[]
  readonly ends: string[]
  readonly index: number[]
}

/**
 * The periods overlapping [start, end) (µs since 2000) and their planned intervals clipped to
 * [start, effEnd). group=day: the plant-local dates of the window, each with the shifts that start
 * on it (a night shift counts for the day it starts, also when that day lies before the window).
 */
export function periodsOf (cal: ShiftCalendar, group: 'shift' | 'day', start: bigint, end: bigint, effEnd: bigint): Plan {
  const occ = cal.occurrences(toMs(start), Math.max(toMs(end), toMs(start) + 1))
  const periods: Period[] = []
  const byDay = new Map<number, number>()
  const dayPeriod = (day: number): number => {
    let i = byDay.get(day)
    if (i === undefined) {
      i = periods.push({ shift: null, day, startMs: wallToInstant(cal.zone, day, 0), endMs: wallToInstant(cal.zone, day + 1, 0), plannedUs: 0n }) - 1
      byDay.set(day, i)
    }
    return i
  }
  if (group === 'day') {
    const last = localDay(cal.zone, Math.max(toMs(start), toMs(end) - 1))
    for (let d = localDay(cal.zone, toMs(start)); d <= last; d++) dayPeriod(d)
  }
  const starts: string[] = []
  const ends: string[] = []
  const index: number[] = []
  for (const o of occ) {
    const p = group === 'day' ? dayPeriod(o.day) : periods.push({ shift: o.name, day: o.day, startMs: o.startMs, endMs: o.endMs, plannedUs: 0n }) - 1
    for (const [a, b] of o.planned) {
      const lo = toMicros(a) > start ? toMicros(a) : start
      const hi = toMicros(b) < effEnd ? toMicros(b) : effEnd
      if (hi <= lo) continue
      ;(periods[p] as Period).plannedUs += hi - lo
      starts.push(microsToIso(lo))
      ends.push(microsToIso(hi))
      index.push(p)
    }
  }
  const order = periods.map((_, i) => i).sort((x, y) => (periods[x] as Period).startMs - (periods[y] as Period).startMs)
  return { periods, order, starts, ends, index }
}

function fields (plannedUs: bigint, s: Sums): Record<string, unknown> {
  const planned = Number(plannedUs) / 1e6
  return {
    planned_seconds: round6(planned),
    running_seconds: round6(s.running),
    stopped_seconds: round6(s.stopped),
    no_data_seconds: round6(s.noData),
    availability: planned > 0 ? round6(s.running / planned) : null,
    micro_stops: { count: s.microCount, seconds: round6(s.microSeconds) },
  }
}

const zero = (): Sums => ({ running: 0, stopped: 0, noData: 0, microCount: 0, microSeconds: 0 })
const fromRow = (r: AvailabilityRow): Sums =>
  ({ running: r.running, stopped: r.stopped, noData: r.no_data, microCount: r.micro_count, microSeconds: r.micro_seconds })
function add (into: Sums, s: Sums): void {
  into.running += s.running
  into.stopped += s.stopped
  into.noData += s.noData
  into.microCount += s.microCount
  into.microSeconds += s.microSeconds
}

export function availabilityRoutes (store: StoreAccess, metrics: HttpMetrics, opts: PlantOptions): Route[] {
  const cal = opts.calendar

  async function measure (ex: Exchange, machineIds: readonly string[] | null, maxDays: number) {
    const group = enumParam(ex, 'group', GROUPS) ?? 'shift'
    const now = nowMicros()
    const s = timeParam(ex, 'start_time')
    const end = timeParam(ex, 'end_time') ?? now
    const start = s ?? toMicros(wallToInstant(cal.zone, localDay(cal.zone, toMs(end)), 0))
    checkOrder(start, end)
    checkRange(start, end, () => metrics.refused.inc({ reason: 'range_too_large' }), maxDays)
    const effEnd = end < now ? end : (start > now ? start : now)
    const plan = periodsOf(cal, group, start, end, effEnd)
    const db = store().db
    const ids = machineIds ?? await machinesWithReadings(db)
    // Runs are measured past the window's edges by the micro-stop threshold (store/availability.ts).
    const widen = BigInt(opts.microStopSeconds) * 1_000_000n
    const measuredTo = end + widen < now ? end + widen : now
    // One statement per machine: each stays within database.statement_timeout_ms whatever the fleet's
    // size, and its sorts fit work_mem more often (10 machines × 86,400 readings: 17 s, against 23 s
    // as one statement, measured under load). An aborted request stops between machines.
    const rows: AvailabilityRow[] = []
    for (const id of ids) {
      if (ex.aborted) break
      rows.push(...await availabilityRows(db, {
        machineIds: [id],
        fromIso: microsToIso(start - widen),
        toIso: microsToIso(measuredTo > start - widen ? measuredTo : start - widen),
        maxGapSeconds: opts.maxGapSeconds,
        runningStates: opts.runningStates,
        microStopSeconds: opts.microStopSeconds,
        starts: plan.starts,
        ends: plan.ends,
        periods: plan.index,
      }))
    }
    const head = {
      start_time: microsToIso(start),
      end_time: microsToIso(end),
      effective_end_time: microsToIso(effEnd),
      group,
      time_zone: cal.zone,
      running_states: opts.runningStates,
      max_gap_seconds: opts.maxGapSeconds,
      micro_stop_seconds: opts.microStopSeconds,
    }
    return { ids, rows, plan, head }
  }

  const periodHead = (p: Period): Record<string, unknown> => ({
    shift: p.shift, date: dayToIsoDate(p.day), start: microsToIso(toMicros(p.startMs)), end: microsToIso(toMicros(p.endMs)),
  })

  async function machine (ex: Exchange): Promise<void> {
    const id = machineIdParam(ex)
    const { rows, plan, head } = await measure(ex, [id], MAX_RANGE_DAYS)
    const sums = plan.periods.map(zero)
    const total = zero()
    for (const r of rows) {
      add(sums[r.period] as Sums, fromRow(r))
      add(total, fromRow(r))
    }
    const planned = plan.periods.reduce((t, p) => t + p.plannedUs, 0n)
    ex.json(200, {
      machine_id: id,
      ...head,
      total: fields(planned, total),
      periods: plan.order.map((i) => ({ ...periodHead(plan.periods[i] as Period), ...fields((plan.periods[i] as Period).plannedUs, sums[i] as Sums) })),
    })
  }

  async function fleet (ex: Exchange): Promise<void> {
    const { ids, rows, plan, head } = await measure(ex, null, MAX_FLEET_RANGE_DAYS)
    const per = plan.periods.map(() => new Map<string, Sums>())
    for (const r of rows) {
      const m = per[r.period] as Map<string, Sums>
      const s = m.get(r.machine_id) ?? zero()
      add(s, fromRow(r))
      m.set(r.machine_id, s)
    }
    ex.json(200, {
      ...head,
      machines: ids,
      periods: plan.order.map((i) => {
        const p = plan.periods[i] as Period
        const all = zero()
        const machines = ids.map((id) => {
          const s = (per[i] as Map<string, Sums>).get(id) ?? zero()
          add(all, s)
          return { machine_id: id, ...fields(p.plannedUs, s) }
        })
        return { ...periodHead(p), ...fields(p.plannedUs * BigInt(ids.length), all), machines }
      }),
    })
  }

  return [
    { method: 'GET', pattern: '/api/v1/machines/:id/availability', auth: true, handler: machine },
    { method: 'GET', pattern: '/api/v1/fleet/availability', auth: true, handler: fleet },
  ]
}

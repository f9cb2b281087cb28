/**
 * The plant's shift calendar (config `plant`): named shifts by weekday in the plant's time zone, breaks
 * excluded from planned time, whole dates overridden. Turns a window of instants into shift
 * occurrences with their planned intervals, computed in local wall time and converted with Intl, so a
 * shift keeps its wall-clock hours across daylight-saving changes (a 22:00–06:00 night shift lasts 7 h
 * on the spring-forward night and 9 h on the fall-back night).
 *
 *   day d (local)   22:00 ─── night(d) ───┬─ break 02:00–02:30 ─┬──────── 06:00 (d+1)
 *                   planned ══════════════╛                     ╘════════ planned
 *
 * A shift whose end is not after its start ends on the next day and belongs to the day it starts
 * (its production date). Invariant of occurrences(): planned intervals are sorted and disjoint across
 * all occurrences (a shift overlapping the one before it is cut to start where that one ends), so
 * summing per shift or per day never counts an instant twice.
 */
import { clockToMinutes, isoDateToDay, localDay, wallToInstant, weekday } from './zoned.js'

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const
export type Weekday = typeof WEEKDAYS[number]

/** One shift as configured (plant.shifts[] and plant.overrides[].shifts[]). */
export interface ShiftConfig {
  readonly name: string
  /** Weekly shifts only. */
  readonly days?: readonly Weekday[]
  readonly start: string
  readonly end: string
  readonly breaks?: ReadonlyArray<{ readonly start: string, readonly end: string }>
}

export interface PlantCalendarConfig {
  readonly time_zone: string
  readonly shifts: readonly ShiftConfig[]
  readonly overrides: ReadonlyArray<{ readonly date: string, readonly shifts: readonly ShiftConfig[] }>
}

/** A shift in minutes from its day's local midnight: start < end ≤ start + 1440, breaks inside. */
interface Shift {
  readonly name: string
  readonly start: number
  readonly end: number
  readonly breaks: ReadonlyArray<readonly [number, number]>
}

export interface ShiftOccurrence {
  readonly name: string
  /** Local date (epoch day) the shift starts on. */
  readonly day: number
  /** Unix ms. */
  readonly startMs: number
  readonly endMs: number
  /** [from, to) Unix ms, sorted, disjoint, inside [startMs, endMs), breaks removed. */
  readonly planned: ReadonlyArray<readonly [number, number]>
}

export class CalendarError extends Error {
  constructor (readonly key: string, message: string) { super(message) }
}

function toShift (c: ShiftConfig, key: string): Shift {
  const start = clockToMinutes(c.start)
  const endClock = clockToMinutes(c.end)
  if (start === null || start === 1440) throw new CalendarError(`${key}.start`, `must be HH:MM from 00:00 to 23:59; got ${JSON.stringify(c.start)}`)
  if (endClock === null) throw new CalendarError(`${key}.end`, `must be HH:MM from 00:00 to 24:00; got ${JSON.stringify(c.end)}`)
  const end = endClock <= start ? endClock + 1440 : endClock
  const inShift = (m: number): number => m < start ? m + 1440 : m
  const breaks: Array<[number, number]> = []
  for (const [i, b] of (c.breaks ?? []).entries()) {
    const bs = clockToMinutes(b.start)
    const be = clockToMinutes(b.end)
    if (bs === null || be === null) throw new CalendarError(`${key}.breaks.${i}`, 'start and end must be HH:MM')
    const from = inShift(bs)
    let to = inShift(be)
    if (to <= from) to += 1440
    if (to > end) throw new CalendarError(`${key}.breaks.${i}`, `${b.start}–${b.end} is not inside the shift ${c.start}–${c.end}`)
    breaks.push([from, to])
  }
  breaks.sort((x, y) => x[0] - y[0])
  for (let i = 1; i < breaks.length; i++) {
    if ((breaks[i] as [number, number])[0] < (breaks[i - 1] as [number, number])[1]) throw new CalendarError(`${key}.breaks`, 'breaks overlap')
  }
  return { name: c.name, start, end, breaks }
}

/** Rejects overlapping [from, to) spans on a ring of `period` minutes (a week, or one long day). */
function checkOverlap (spans: Array<{ from: number, to: number, what: string }>, period: number, key: string): void {
  const all = spans.flatMap((s) => s.to > period ? [s, { from: s.from - period, to: s.to - period, what: s.what }] : [s])
  all.sort((a, b) => a.from - b.from)
  for (let i = 1; i < all.length; i++) {
    const a = all[i - 1] as typeof all[number]
    const b = all[i] as typeof all[number]
    if (b.from < a.to) throw new CalendarError(key, `shifts overlap: ${a.what} and ${b.what}`)
  }
}

export class ShiftCalendar {
  readonly zone: string
  readonly #weekly: ReadonlyArray<ReadonlyArray<Shift>>
  readonly #overrides: ReadonlyMap<number, ReadonlyArray<Shift>>

  /** Validates the configuration; a CalendarError names the key (e.g. `plant.shifts.1.end`). */
  constructor (cfg: PlantCalendarConfig) {
    this.zone = cfg.time_zone
    const weekly: Shift[][] = WEEKDAYS.map(() => [])
    const spans: Array<{ from: number, to: number, what: string }> = []
    for (const [i, c] of cfg.shifts.entries()) {
      const s = toShift(c, `plant.shifts.${i}`)
      for (const d of c.days ?? WEEKDAYS) {
        const wd = WEEKDAYS.indexOf(d)
        weekly[wd]?.push(s)
        spans.push({ from: wd * 1440 + s.start, to: wd * 1440 + s.end, what: `${c.name} (${d})` })
      }
    }
    checkOverlap(spans, 7 * 1440, 'plant.shifts')
    const overrides = new Map<number, Shift[]>()
    for (const [i, o] of cfg.overrides.entries()) {
      const day = isoDateToDay(o.date)
      if (day === null) throw new CalendarError(`plant.overrides.${i}.date`, `must be a date YYYY-MM-DD; got ${JSON.stringify(o.date)}`)
      if (overrides.has(day)) throw new CalendarError(`plant.overrides.${i}.date`, `${o.date} is overridden twice`)
      const shifts = o.shifts.map((c, j) => toShift(c, `plant.overrides.${i}.shifts.${j}`))
      checkOverlap(shifts.map((s) => ({ from: s.start, to: s.end, what: s.name })), 2 * 1440, `plant.overrides.${i}.shifts`)
      overrides.set(day, shifts)
    }
    for (const list of weekly) list.sort((a, b) => a.start - b.start)
    for (const list of overrides.values()) list.sort((a, b) => a.start - b.start)
    this.#weekly = weekly
    this.#overrides = overrides
  }

  /** The shifts scheduled to start on a local date. */
  shiftsOn (day: number): ReadonlyArray<Shift> {
    return this.#overrides.get(day) ?? this.#weekly[weekday(day)] ?? []
  }

  /** Shift occurrences overlapping [fromMs, toMs), in start order, with planned intervals (see header). */
  occurrences (fromMs: number, toMs: number): ShiftOccurrence[] {
    const out: ShiftOccurrence[] = []
    // A shift lasts at most 24 h, so the one that may reach into the window starts the day before.
    const first = localDay(this.zone, fromMs) - 1
    const last = localDay(this.zone, toMs)
    let floor = -Infinity
    for (let day = first; day <= last; day++) {
      for (const s of this.shiftsOn(day)) {
        const at = (minutes: number): number => wallToInstant(this.zone, day, minutes)
        const startMs = at(s.start)
        const endMs = at(s.end)
        const planned: Array<[number, number]> = []
        let cur = Math.max(startMs, floor)
        for (const [bs, be] of s.breaks) {
          const b0 = at(bs)
          if (b0 > cur) planned.push([cur, b0])
          cur = Math.max(cur, at(be))
        }
        if (endMs > cur) planned.push([cur, endMs])
        floor = Math.max(floor, endMs)
        if (endMs > fromMs && startMs < toMs) out.push({ name: s.name, day, startMs, endMs, planned })
      }
    }
    return out
  }
}

/**
 * Wall-clock time in an IANA time zone ↔ instants, with Node's own ICU data (Intl): no time-zone
 * library. Local dates are whole days since 1970-01-01 ("epoch days"), local times minutes since
 * that day's midnight (≥ 1440 rolls into the following days).
 *
 * Wall times that do not exist or exist twice are resolved as Temporal's `compatible` does:
 *   spring forward (02:30 skipped)  → the instant after the gap, by the gap's length (03:30)
 *   fall back (01:30 happens twice) → the earlier instant (the first 01:30)
 */
const DAY_MS = 86_400_000
const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter (zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    })
    formatters.set(zone, f)
  }
  return f
}

/** True when Intl knows the zone (IANA names such as Europe/Berlin, and UTC). */
export function isTimeZone (zone: string): boolean {
  try {
    formatter(zone)
    return true
  } catch {
    return false
  }
}

/** The zone's offset from UTC at an instant, in ms (local = instant + offset). Whole seconds only. */
export function offsetAt (zone: string, instantMs: number): number {
  const at = Math.floor(instantMs / 1000) * 1000
  const p: Record<string, number> = {}
  for (const part of formatter(zone).formatToParts(at)) if (part.type !== 'literal') p[part.type] = Number(part.value)
  const wall = Date.UTC(p.year ?? 1970, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0, p.second ?? 0)
  return wall - at
}

/** The instant of a local wall time (day + minutes) in the zone; see the header for gaps and folds. */
export function wallToInstant (zone: string, day: number, minutes: number): number {
  const wall = day * DAY_MS + minutes * 60_000
  // Offsets in force a day either side bracket any single transition near this wall time.
  const before = offsetAt(zone, wall - DAY_MS)
  const after = offsetAt(zone, wall + DAY_MS)
  const valid: number[] = []
  for (const o of before === after ? [before] : [before, after]) {
    if (offsetAt(zone, wall - o) === o) valid.push(wall - o)
  }
  if (valid.length === 0) return wall - before // in a gap: shifted forward by the gap's length
  return Math.min(...valid)
}

/** The local date (epoch day) at an instant. */
export function localDay (zone: string, instantMs: number): number {
  return Math.floor((instantMs + offsetAt(zone, instantMs)) / DAY_MS)
}

/** 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday). */
export function weekday (day: number): number {
  return ((day + 4) % 7 + 7) % 7
}

export function dayToIsoDate (day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10)
}

/** `YYYY-MM-DD` → epoch day, or null when it is not a real date. */
export function isoDateToDay (text: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text)
  if (m === null) return null
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))
  const day = ms / DAY_MS
  return dayToIsoDate(day) === text ? day : null
}

/** `HH:MM` (00:00–24:00) → minutes, or null. */
export function clockToMinutes (text: string): number | null {
  const m = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(text)
  if (m === null) return null
  const minutes = Number(m[1]) * 60 + Number(m[2])
  return minutes <= 1440 ? minutes : null
}

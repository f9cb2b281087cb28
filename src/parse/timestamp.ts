/**
 * RFC 3339 timestamps → microseconds since the PostgreSQL epoch (2000-01-01T00:00:00Z),
 * exactly, without Date objects: Date keeps milliseconds only and treats years 0–99 as 19xx.
 *
 *   2025-07-13T10:00:00.123456789+02:00
 *   └date────┘ └time──┘└fraction─┘└offset  (T, t or space; Z, z or ±HH:MM; fraction rounded to µs)
 *
 * Returns NaN when the text is not such a timestamp or names a day that does not exist.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/

/** Days between 1970-01-01 and 2000-01-01. */
const PG_EPOCH_DAYS = 10_957
const US_PER_DAY = 86_400_000_000

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil (year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146_097 + doe - 719_468
}

function daysInMonth (year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

// Scratch results of parseParts: one parse per message, no allocation beyond the regex match.
let partDays = 0
let partSeconds = 0
let partFraction = 0

function parseParts (text: string): boolean {
  const m = RFC3339.exec(text)
  if (m === null) return false
  const year = +(m[1] as string)
  const month = +(m[2] as string)
  const day = +(m[3] as string)
  const hour = +(m[4] as string)
  const minute = +(m[5] as string)
  const second = +(m[6] as string)
  // Year 0 does not exist for PostgreSQL; second 60 is a leap second, which PostgreSQL rolls over.
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false
  if (hour > 23 || minute > 59 || second > 60) return false
  let offsetMinutes = 0
  if (m[8] === undefined) {
    const oh = +(m[10] as string)
    const om = +(m[11] as string)
    if (oh > 23 || om > 59) return false
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om)
  }
  let fraction = 0
  const digits = m[7]
  if (digits !== undefined) {
    const padded = (digits + '0000000').slice(0, 7)
    fraction = Math.floor(+padded / 10) + (padded.charCodeAt(6) >= 53 /* '5' */ ? 1 : 0)
  }
  partDays = daysFromCivil(year, month, day) - PG_EPOCH_DAYS
  partSeconds = hour * 3600 + minute * 60 + second - offsetMinutes * 60
  partFraction = fraction
  return true
}

/**
 * Microseconds since 2000-01-01Z, NaN when invalid. Exact while the result is a safe integer
 * (years 1715–2285); outside that, callers take parseRfc3339BigMicros.
 */
export function parseRfc3339Micros (text: string): number {
  if (!parseParts(text)) return Number.NaN
  return partDays * US_PER_DAY + partSeconds * 1_000_000 + partFraction
}

/** The same value exactly, as a bigint, for any year 1–9999; null when invalid. */
export function parseRfc3339BigMicros (text: string): bigint | null {
  if (!parseParts(text)) return null
  return BigInt(partDays) * BigInt(US_PER_DAY) + BigInt(partSeconds) * 1_000_000n + BigInt(partFraction)
}

/** Inverse, for read-back checks and logs: microseconds since 2000-01-01Z → ISO string (µs precision). */
export function microsToIso (micros: number): string {
  const ms = Math.floor(micros / 1000)
  const iso = new Date(ms + PG_EPOCH_DAYS * 86_400_000).toISOString()
  const us = micros - ms * 1000
  return iso.slice(0, 23) + String(us).padStart(3, '0') + 'Z'
}

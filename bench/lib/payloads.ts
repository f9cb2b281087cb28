/** Reading payloads for the load phases, built before any timing starts. */
import { makeReading } from '../seed/readings.js'

const enc = new TextEncoder()

/** RFC 3339 with microseconds, e.g. 2026-11-27T07:30:00.123456Z, from ms since 1970 (fractional). */
export function isoMicros (epochMs: number): string {
  const ms = Math.floor(epochMs)
  const micros = Math.floor((epochMs - ms) * 1000)
  return new Date(ms).toISOString().slice(0, 23) + String(micros).padStart(3, '0') + 'Z'
}

/** `count` readings over `machines` machines, each with a distinct timestamp. */
export function readingPayloads (count: number, prefix: string, machines = 100, startMs = Date.UTC(2026, 0, 1)): Uint8Array[] {
  const out: Uint8Array[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const machine = `${prefix}-${String(i % machines).padStart(3, '0')}`
    out[i] = enc.encode(JSON.stringify(makeReading(machine, i, new Date(startMs + i))))
  }
  return out
}

/** Wall-clock now with sub-millisecond resolution (ms since 1970). */
export function nowEpochMs (): number {
  return performance.timeOrigin + performance.now()
}

/** A reading stamped with its own publish time, to the microsecond. */
export function liveReading (machine: string, n: number, epochMs: number): Uint8Array {
  const r = makeReading(machine, n)
  r.timestamp = isoMicros(epochMs)
  return enc.encode(JSON.stringify(r))
}

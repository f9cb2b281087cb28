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
  return Array.from(readingStream(count, prefix, machines, startMs))
}

/** The same readings as readingPayloads, generated one at a time (for a prefill that need not hold them). */
export function * readingStream (count: number, prefix: string, machines = 100, startMs = Date.UTC(2026, 0, 1)): Generator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    const machine = `${prefix}-${String(i % machines).padStart(3, '0')}`
    yield enc.encode(JSON.stringify(makeReading(machine, i, new Date(startMs + i))))
  }
}

/**
 * `messages` payloads, each a JSON array of `perMessage` readings of the same shape as readingPayloads'
 * (100 machines; reading k of the whole run is stamped startMs + k ms), so every reading is its own row.
 * Generated one message at a time: 6,000 × 100 readings would be ≈ 170 MB held at once.
 */
export function * batchedPayloads (messages: number, perMessage: number, prefix: string, machines = 100, startMs = Date.UTC(2026, 0, 1)): Generator<Uint8Array> {
  for (let i = 0; i < messages; i++) {
    const readings = new Array<ReturnType<typeof makeReading>>(perMessage)
    for (let j = 0; j < perMessage; j++) {
      const k = i * perMessage + j
      readings[j] = makeReading(`${prefix}-${String(k % machines).padStart(3, '0')}`, k, new Date(startMs + k))
    }
    yield enc.encode(JSON.stringify(readings))
  }
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

/** Test payloads: a valid reading builder, one example of every class of bad input, and batch packing. */
import type { RawBatch } from '../../src/contracts.js'

const enc = new TextEncoder()

/** Packs payloads the way the ingest source does, for calling the decoder directly. */
export function pack (payloads: ReadonlyArray<string | Uint8Array>, maxPayloadBytes = 65_536): RawBatch {
  const parts = payloads.map((p) => typeof p === 'string' ? enc.encode(p) : p)
  const offsets = new Uint32Array(parts.length + 1)
  const bytes = new Uint8Array(parts.reduce((s, p) => s + p.length, 0))
  let pos = 0
  parts.forEach((p, i) => { bytes.set(p, pos); pos += p.length; offsets[i + 1] = pos })
  return { bytes, offsets, count: parts.length, maxPayloadBytes }
}

export function reading (machine: string, n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    machine_id: machine,
    timestamp: new Date(Date.UTC(2025, 6, 13, 10, 0, 0) + n * 100).toISOString(),
    temperature: 40 + n / 10,
    spindle_speed: 1200 + n,
    x_pos_mm: n,
    y_pos_mm: -n,
    z_pos_mm: 0.5,
    feed_rate_actual: 500,
    spindle_load_percent: 42.5,
    machine_state: 'RUNNING',
    active_program_line: n,
    total_power_kw: 7.25,
    ...extra,
  }
}

export const json = (v: unknown): string => JSON.stringify(v)

/** Each bad payload with the reason code it must be dead-lettered under. */
export const BAD_PAYLOADS: ReadonlyArray<{ readonly name: string, readonly payload: string | Uint8Array, readonly reason: string }> = [
  { name: 'invalid JSON', payload: '{"machine_id": "CNC-1", "temperature": ', reason: 'invalid_json' },
  { name: 'not an object', payload: '"a string"', reason: 'schema' },
  { name: 'an empty array', payload: '[]', reason: 'schema' },
  { name: 'wrong type', payload: json(reading('CNC-BAD', 1, { temperature: 'hot' })), reason: 'schema' },
  { name: 'missing required', payload: json({ machine_id: 'CNC-BAD', timestamp: '2025-07-13T10:00:00Z', temperature: 1 }), reason: 'schema' },
  { name: 'empty machine_id', payload: json(reading('', 1)), reason: 'schema' },
  { name: 'bad timestamp', payload: json(reading('CNC-BAD', 1, { timestamp: '13/07/2025 10:00' })), reason: 'schema' },
  { name: 'timestamp without offset', payload: json(reading('CNC-BAD', 1, { timestamp: '2025-07-13T10:00:00.000' })), reason: 'bad_timestamp' },
  { name: 'impossible date', payload: json(reading('CNC-BAD', 1, { timestamp: '2025-02-30T10:00:00Z' })), reason: 'bad_timestamp' },
  { name: 'year zero', payload: json(reading('CNC-BAD', 1, { timestamp: '0000-01-01T00:00:00Z' })), reason: 'bad_timestamp' },
  { name: 'fractional program line', payload: json(reading('CNC-BAD', 1, { active_program_line: 1.5 })), reason: 'schema' },
  { name: 'program line beyond int4', payload: json(reading('CNC-BAD', 1, { active_program_line: 2 ** 31 })), reason: 'schema' },
  { name: 'overflowing number', payload: '{"machine_id":"CNC-BAD","timestamp":"2025-07-13T10:00:00Z","temperature":1e999,"spindle_speed":1}', reason: 'schema' },
  { name: 'NUL in machine_state', payload: json(reading('CNC-BAD', 1, { machine_state: 'RUN\u0000NING' })), reason: 'unstorable_value' },
  { name: '1 MB string', payload: json(reading('CNC-BAD', 1, { machine_state: 'x'.repeat(1_000_000) })), reason: 'payload_too_large' },
  { name: 'invalid UTF-8', payload: Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), reason: 'invalid_utf8' },
  { name: 'machine_id too long', payload: json(reading('M'.repeat(129), 1)), reason: 'schema' },
]

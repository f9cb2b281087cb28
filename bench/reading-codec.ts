/**
 * Per reading: decodeBatch (JSON.parse · validate · binary COPY encode, generated from the field
 * descriptor), and the Reading JSON serializers derived from the descriptor (a loop over a key
 * table). The hand-written templates they replaced were measured beside them once (README, "Adding a
 * reading field": same output, same speed within the spread) and then removed. Short runs:
 *   flock -s /tmp/cnc-cpu.lock node --import tsx bench/reading-codec.ts
 */
import { Bench } from 'tinybench'
import type { RawBatch } from '../src/contracts.js'
import { decodeBatch } from '../src/parse/decode-batch.js'
import { payloadJson, rowJson } from '../src/api/reading-json.js'
import type { ReadingRow } from '../src/reading-fields.js'
import { readingPayloads } from './lib/payloads.js'

const N = 5000
const payloads = readingPayloads(N, 'CODEC')
let total = 0
for (const p of payloads) total += p.length
const bytes = new Uint8Array(total)
const offsets = new Uint32Array(N + 1)
let pos = 0
payloads.forEach((p, i) => { bytes.set(p, pos); pos += p.length; offsets[i + 1] = pos })
const raw: RawBatch = { bytes, offsets, count: N, maxPayloadBytes: 65_536 }
const texts = payloads.map((p) => Buffer.from(p).toString('utf8'))
const rows = texts.map((t) => {
  const r = JSON.parse(t) as Record<string, number | string | null>
  return ['2026-01-01T00:00:00.000000Z', r.temperature, r.spindle_speed, r.x_pos_mm ?? null, r.y_pos_mm ?? null, r.z_pos_mm ?? null,
    r.feed_rate_actual ?? null, r.spindle_load_percent ?? null, r.machine_state ?? null, r.active_program_line ?? null, r.total_power_kw ?? null] as ReadingRow
})

let sink = 0
const tasks: Record<string, () => void> = {
  [`decodeBatch ${N}`]: () => {
    const b = decodeBatch({ ...raw, bytes: raw.bytes.slice(), offsets: raw.offsets.slice() })
    sink += b.copy.byteLength
  },
  [`row → JSON, descriptor ${N}`]: () => { for (const r of rows) sink += rowJson('"CODEC-001"', r).length },
  [`payload → JSON, descriptor ${N}`]: () => { for (const t of texts) sink += (payloadJson(t) ?? '').length },
}
// Each task three times, interleaved, and the best mean kept: this box is shared and busy.
const ROUNDS = 3
const bench = new Bench({ time: 500, warmupIterations: 5 })
for (let k = 0; k < ROUNDS; k++) for (const [name, fn] of Object.entries(tasks)) bench.add(`${name}#${k}`, fn)
await bench.run()
const best = new Map<string, number>()
for (const t of bench.tasks) {
  const name = t.name.slice(0, t.name.lastIndexOf('#'))
  const mean = (t.result as { latency?: { mean: number } }).latency?.mean ?? NaN
  best.set(name, Math.min(best.get(name) ?? Infinity, mean))
}
for (const [name, mean] of best) console.log(`${name.padEnd(34)} ${mean.toFixed(3)} ms/batch  ${(N / mean).toFixed(0)}k/s (best of ${ROUNDS})`)
if (sink === -1) console.log(sink)

/**
 * Property tests of the decoder/validator (fast-check). For any bytes, any JSON and any mutation of
 * a valid reading:
 *   - decodeBatch never throws, in-process or inside a parser worker;
 *   - every message is classified exactly once (a row or one rejection; for an array payload, each
 *     element a row or one rejection naming it), in message order;
 *   - the same bytes get the same answer every time, alone or among other messages;
 *   - nothing it parses reaches Object.prototype (or any other built-in prototype).
 * FUZZ_RUNS raises the number of cases (default 300 per property).
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import fc from 'fast-check'
import type { ParsedBatch } from '../../src/contracts.js'
import { decodeBatch } from '../../src/parse/decode-batch.js'
import { ParserPool } from '../../src/parse/parser-pool.js'
import { json, pack, reading } from '../helpers/payloads.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 300)
const enc = new TextEncoder()

const FIELDS = ['machine_id', 'timestamp', 'temperature', 'spindle_speed', 'x_pos_mm', 'y_pos_mm', 'z_pos_mm',
  'feed_rate_actual', 'spindle_load_percent', 'machine_state', 'active_program_line', 'total_power_kw'] as const
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__'] as const

/** Timestamps around the edges the parser cares about (offsets, fractions, calendar, PostgreSQL's range). */
const timestampArb = fc.oneof(
  fc.date({ min: new Date(Date.UTC(1, 0, 1)), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }),
    fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 61 }), fc.constantFrom('', '.5', '.123456', '.1234567891234', '.'),
    fc.constantFrom('Z', 'z', '+00:00', '-23:59', '+24:00', '', '+1:00'))
    .map(([y, mo, d, h, mi, frac, off]) => `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:${String(mi).padStart(2, '0')}:00${frac}${off}`),
  fc.string({ maxLength: 40 })
)

/** A valid reading with zero or more fields replaced by arbitrary JSON, removed, or hostile keys added. */
const mutatedReadingArb = fc.record({
  n: fc.integer({ min: 0, max: 1_000_000 }),
  replace: fc.dictionary(fc.constantFrom(...FIELDS), fc.oneof(fc.jsonValue({ maxDepth: 2 }), timestampArb, fc.double(), fc.string({ unit: 'binary', maxLength: 70 }))),
  remove: fc.subarray([...FIELDS]),
  hostile: fc.dictionary(fc.constantFrom(...HOSTILE_KEYS), fc.jsonValue({ maxDepth: 2 })),
}).map(({ n, replace, remove, hostile }) => {
  const base: Record<string, unknown> = reading('FZ', n % 100_000)
  for (const k of remove) base[k] = undefined
  Object.assign(base, replace)
  // Written as raw JSON text so "__proto__" is an own key of the text, as a sensor would send it.
  const body = JSON.stringify(base).slice(1, -1)
  const extra = Object.entries(hostile).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')
  return `{${[extra, body].filter((s) => s.length > 0).join(',')}}`
})

/** One payload: raw bytes, arbitrary text, arbitrary JSON, or a mutated reading. */
const payloadArb: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 4, arbitrary: mutatedReadingArb },
  { weight: 2, arbitrary: timestampArb.map((ts) => json(reading('FZ', 2, { timestamp: ts }))) },
  { weight: 1, arbitrary: fc.constant(json(reading('FZ', 1))) }
)

const batchArb = fc.array(payloadArb, { minLength: 1, maxLength: 40 })

/**
 * The answer for each message: 'row', `code: detail` (refused whole), or for an array payload
 * `rows N; [k] code: detail; …` (each element a row or one rejection naming it, never both).
 */
function classify (out: ParsedBatch, count: number): string[] {
  const whole = new Array<string | undefined>(count).fill(undefined)
  const parts: string[][] = Array.from({ length: count }, () => [])
  const elements: Array<Set<number>> = Array.from({ length: count }, () => new Set())
  const rows = new Array<number>(count).fill(0)
  for (const r of out.rejections) {
    if (r.element === undefined) {
      assert.equal(whole[r.index], undefined, `message ${r.index} refused twice`)
      whole[r.index] = `${r.code}: ${r.detail}`
    } else {
      assert.ok(!elements[r.index]?.has(r.element), `element ${r.element} of message ${r.index} refused twice`)
      elements[r.index]?.add(r.element)
      parts[r.index]?.push(`[${r.element}] ${r.code}: ${r.detail}`)
    }
  }
  for (const i of out.rowMessage) rows[i] = (rows[i] as number) + 1
  return Array.from({ length: count }, (_, i) => {
    const n = rows[i] as number
    const p = parts[i] as string[]
    const w = whole[i]
    if (w !== undefined) {
      assert.equal(n + p.length, 0, `message ${i} refused whole and in parts`)
      return w
    }
    assert.ok(n + p.length > 0, `message ${i} classified`)
    return p.length === 0 && n === 1 ? 'row' : `rows ${n}; ${p.join('; ')}`
  })
}

function prototypesSnapshot (): string {
  return [Object.prototype, Array.prototype, Function.prototype, String.prototype, Number.prototype]
    .map((p) => Reflect.ownKeys(p).map(String).sort().join(',')).join('|')
}

describe('decodeBatch under fuzzing', () => {
  const protoBefore = prototypesSnapshot()

  it('never throws and classifies every message exactly once', () => {
    const seen = new Set<string>()
    fc.assert(fc.property(batchArb, (payloads) => {
      const out = decodeBatch(pack(payloads))
      for (const a of classify(out, payloads.length)) seen.add(a.split(':')[0] as string)
      assert.equal(out.rowEnds.length, out.rowMessage.length)
      assert.equal(out.rowEnds.at(-1) ?? 0, out.copy.byteLength)
      for (let r = 1; r < out.rowMessage.length; r++) assert.ok((out.rowMessage[r] as number) >= (out.rowMessage[r - 1] as number), 'rows in message order')
    }), { numRuns: RUNS })
    // The generators reach both sides and the main rejection classes.
    for (const kind of ['row', 'invalid_json', 'schema', 'bad_timestamp', 'invalid_utf8']) assert.ok(seen.has(kind), `fuzzing produced ${kind}: ${[...seen].join(', ')}`)
  })

  it('gives the same bytes the same answer every time, alone or among others', () => {
    fc.assert(fc.property(batchArb, (payloads) => {
      const first = decodeBatch(pack(payloads))
      const together = classify(first, payloads.length)
      const copy = Buffer.from(first.copy)
      const again = decodeBatch(pack(payloads))
      assert.deepEqual(classify(again, payloads.length), together)
      assert.deepEqual(Buffer.from(again.copy), copy, 'the same COPY bytes')
      payloads.forEach((p, i) => {
        assert.deepEqual(classify(decodeBatch(pack([p])), 1), [together[i]], `message ${i} alone`)
      })
    }), { numRuns: Math.ceil(RUNS / 3) })
  })

  it('never lets a parsed key reach a built-in prototype', () => {
    const hostile = fc.record({
      key: fc.constantFrom(...HOSTILE_KEYS),
      inner: fc.constantFrom(...HOSTILE_KEYS, 'polluted', 'machine_id'),
      value: fc.jsonValue({ maxDepth: 2 }),
    }).map(({ key, inner, value }) => `{${JSON.stringify(key)}:{${JSON.stringify(inner)}:${JSON.stringify(value)}},` +
      '"machine_id":"P","timestamp":"2025-07-13T10:00:00Z","temperature":1,"spindle_speed":2}')
    fc.assert(fc.property(fc.array(hostile, { minLength: 1, maxLength: 10 }), (payloads) => {
      const out = decodeBatch(pack(payloads))
      classify(out, payloads.length)
      assert.equal(prototypesSnapshot(), protoBefore)
      assert.equal(({} as Record<string, unknown>).polluted, undefined)
      assert.equal(({} as Record<string, unknown>).machine_id, undefined)
    }), { numRuns: RUNS })
    assert.equal(prototypesSnapshot(), protoBefore)
  })

  describe('inside a parser worker', () => {
    const pool = new ParserPool(1, 4)
    after(async () => { await pool.close() })

    it('answers every fuzzed batch (never rejects the task) exactly as in-process', async () => {
      await fc.assert(fc.asyncProperty(batchArb, async (payloads) => {
        const expected = classify(decodeBatch(pack(payloads)), payloads.length)
        const out = await pool.parse(pack(payloads.map((p) => typeof p === 'string' ? enc.encode(p) : p)))
        assert.deepEqual(classify(out, payloads.length), expected)
      }), { numRuns: Math.ceil(RUNS / 6) })
    })
  })

  describe('on the ingest thread (parser_threads 0: in slices, one batch at a time)', () => {
    const pool = new ParserPool(0, 4)
    after(async () => { await pool.close() })

    it('answers every fuzzed batch exactly as one decode does, also when several overlap', async () => {
      await fc.assert(fc.asyncProperty(fc.array(batchArb, { minLength: 1, maxLength: 3 }), async (batches) => {
        const expected = batches.map((payloads) => {
          const out = decodeBatch(pack(payloads))
          return { answer: classify(out, payloads.length), copy: Buffer.from(out.copy) }
        })
        // Started together: the pool must run them one after another (they share the encoder).
        const outs = await Promise.all(batches.map((payloads) => pool.parse(pack(payloads))))
        outs.forEach((out, k) => {
          assert.deepEqual(classify(out, (batches[k] as unknown[]).length), expected[k]?.answer)
          assert.deepEqual(Buffer.from(out.copy), expected[k]?.copy)
        })
      }), { numRuns: Math.ceil(RUNS / 6) })
    })
  })
})

/**
 * What a hostile publisher can put in one message becomes a rejection with its own reason, never a
 * throw and never a silently rewritten value (issues 10 and 17).
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, describe, it } from 'node:test'
import fc from 'fast-check'
import type { ParsedBatch, RawBatch } from '../../src/contracts.js'
import { decodeBatch } from '../../src/parse/decode-batch.js'
import { MAX_DEPTH, inspectValue } from '../../src/parse/inspect-value.js'
import { ParserPool } from '../../src/parse/parser-pool.js'
import { json, pack, reading } from '../helpers/payloads.js'

const TS = '"timestamp":"2025-07-13T10:00:00Z","temperature":1,"spindle_speed":2'
/** A reading whose machine_id is the given JSON string text, exactly as a publisher writes it. */
const withId = (idJson: string, extra = ''): string => `{"machine_id":"${idJson}",${TS}${extra}}`
const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth)

function outcome (out: ParsedBatch, i: number): string {
  const r = out.rejections.find((x) => x.index === i)
  if (r !== undefined) return r.code
  return out.rowMessage.includes(i) ? 'row' : 'missing'
}

describe('decodeBatch against hostile payloads', () => {
  it('dead-letters lone surrogate escapes in machine_id as invalid_unicode and stores a real U+FFFD as is', () => {
    const out = decodeBatch(pack([withId('CNC-\\ud800'), withId('CNC-\\udbff'), withId('CNC-\\udc00'), withId('CNC-\\ufffd'), withId('CNC-\\ud83d\\ude00')]))
    assert.deepEqual([0, 1, 2, 3, 4].map((i) => outcome(out, i)), ['invalid_unicode', 'invalid_unicode', 'invalid_unicode', 'row', 'row'])
    assert.match(out.rejections[0]?.detail ?? '', /^machine_id: lone surrogate \\ud800 at character 4/)
    assert.match(out.rejections[2]?.detail ?? '', /\\udc00 at character 4/)
    assert.deepEqual(out.machines, ['CNC-\ufffd', 'CNC-\u{1F600}'])
    // The stored text is exactly the publisher's: U+FFFD once (EF BF BD), the emoji as its 4 UTF-8 bytes.
    const copy = Buffer.from(out.copy)
    assert.ok(copy.includes(Buffer.from('CNC-\ufffd', 'utf8')))
    assert.ok(copy.includes(Buffer.from([0x43, 0x4e, 0x43, 0x2d, 0xf0, 0x9f, 0x98, 0x80])))
  })

  it('finds lone surrogates in machine_state, unknown fields, nested values and keys', () => {
    const payloads = [
      json(reading('U', 1)).replace('"RUNNING"', '"RUN\\udc00"'),
      withId('U', ',"note":"\\ud800"'),
      withId('U', ',"extra":{"a":[1,"x\\udfff"]}'),
      withId('U', ',"k\\ud800":1'),
      withId('U', ',"escaped":"\\\\ud800"'), // a backslash and the text "ud800": valid
    ]
    const out = decodeBatch(pack(payloads))
    assert.deepEqual(payloads.map((_, i) => outcome(out, i)), ['invalid_unicode', 'invalid_unicode', 'invalid_unicode', 'invalid_unicode', 'row'])
    assert.match(out.rejections[0]?.detail ?? '', /^machine_state: /)
    assert.match(out.rejections[2]?.detail ?? '', /^extra: /)
  })

  it('keeps NFC and NFD spellings apart (stored byte for byte, never normalized)', () => {
    const nfc = 'Caf\u00e9'
    const nfd = 'Cafe\u0301'
    const out = decodeBatch(pack([json(reading(nfc, 1)), json(reading(nfd, 2))]))
    assert.deepEqual(out.machines, [nfc, nfd])
  })

  it(`refuses nesting deeper than ${MAX_DEPTH} levels as too_deep, whatever the depth`, () => {
    const ok = withId('D', `,"extra":${nested(MAX_DEPTH - 1)}`)
    const deep = withId('D', `,"extra":${nested(MAX_DEPTH)}`)
    const veryDeep = withId('D', `,"extra":${nested(30_000)}`)
    const topLevel = nested(30_000)
    const out = decodeBatch(pack([ok, deep, veryDeep, topLevel]))
    assert.deepEqual([0, 1, 2, 3].map((i) => outcome(out, i)), ['row', 'too_deep', 'too_deep', 'too_deep'])
    assert.equal(out.rejections[0]?.detail, `extra: nested deeper than ${MAX_DEPTH} levels`)
  })

  it('refuses numbers that overflow a float, naming the field', () => {
    const out = decodeBatch(pack([
      `{"machine_id":"N",${TS.replace('"temperature":1', '"temperature":1e999')}}`,
      `{"machine_id":"N",${TS.replace('"temperature":1', `"temperature":-${'9'.repeat(400)}`)}}`,
      `{"machine_id":"N",${TS.replace('"temperature":1', `"temperature":0.${'1'.repeat(5_000)}`)}}`,
    ]))
    assert.deepEqual([0, 1, 2].map((i) => outcome(out, i)), ['schema', 'schema', 'row'])
    assert.equal(out.rejections[0]?.detail, 'temperature: must be a finite number (the literal overflows a 64-bit float)')
  })

  it('rejects a payload marked oversized with its length, limit and digest', () => {
    const whole = Buffer.from(json(reading('BIG', 1, { machine_state: 'x'.repeat(100_000) })))
    const prefix = whole.subarray(0, 1024)
    const sha256 = createHash('sha256').update(whole).digest('hex')
    const base = pack([json(reading('A', 1)), prefix, json(reading('A', 2))])
    const out = decodeBatch({ ...base, oversized: [{ index: 1, length: whole.length, sha256 }] })
    assert.deepEqual([0, 1, 2].map((i) => outcome(out, i)), ['row', 'payload_too_large', 'row'])
    assert.equal(out.rejections[0]?.detail, `payload is ${whole.length} bytes; the limit (nats.max_payload_bytes) is 65536; sha256 ${sha256}; the dead letter keeps its first 1024 bytes`)
  })

  it('turns a decoder failure on one message into decode_failed for that message alone', () => {
    // Simulate a decoder bug that one payload triggers: the walk's string check throws for it.
    const original = Object.getOwnPropertyDescriptor(String.prototype, 'isWellFormed') as PropertyDescriptor
    // eslint-disable-next-line no-extend-native -- replaced for this test only, restored below
    Object.defineProperty(String.prototype, 'isWellFormed', {
      configurable: true,
      writable: true,
      value: function (this: string) {
        if (this.startsWith('BOOM')) throw new Error('simulated decoder bug')
        return (original.value as (this: string) => boolean).call(this)
      },
    })
    try {
      // An escape in the id makes the decoder walk the message's strings.
      const out = decodeBatch(pack([json(reading('A', 1)), json(reading('BOOM', 2)).replace('"BOOM"', '"BOOM\\u0041"'), json(reading('A', 3))]))
      assert.deepEqual([0, 1, 2].map((i) => outcome(out, i)), ['row', 'decode_failed', 'row'])
      assert.match(out.rejections[0]?.detail ?? '', /simulated decoder bug/)
      assert.equal(out.rowEnds.at(-1), out.copy.byteLength, 'no stray tuple in the COPY data')
    } finally {
      // eslint-disable-next-line no-extend-native -- restores the original
      Object.defineProperty(String.prototype, 'isWellFormed', original)
    }
  })

  it('skips the walk only for bytes where it cannot find anything (no escape, no nesting)', () => {
    const text = fc.oneof(
      fc.jsonValue({ maxDepth: 40 }).map((v) => JSON.stringify(v) ?? 'null'),
      fc.string({ unit: 'binary', maxLength: 30 }).map((v) => JSON.stringify({ machine_id: v, note: [v] })),
      fc.string({ unit: 'binary', maxLength: 30 }).map((v) => JSON.stringify(v))
    )
    fc.assert(fc.property(text, (t) => {
      if (inspectValue(JSON.parse(t)) === null) return
      assert.ok(t.includes('\\') || t.includes('[') || t.indexOf('{', 1) !== -1, `walk needed for ${t}`)
    }), { numRuns: 2_000 })
  })

  describe('inside a parser worker', () => {
    const pool = new ParserPool(1, 4)
    after(async () => { await pool.close() })

    it('fails the batch when its worker runs out of heap (the worker dies, not the process), then answers the next', async () => {
      const small = new ParserPool(1, 4, 16)
      try {
        // 8 MB of [[],[],…] parses into ~115 MB of heap: far past this pool's 16 MB bound.
        const huge = '[' + '[],'.repeat(2_800_000) + '[]]'
        await assert.rejects(small.parse(pack([huge], 16_777_216)))
        const out = await small.parse(pack([json(reading('W', 1))]))
        assert.equal(out.rowMessage.length, 1)
      } finally {
        await small.destroy()
      }
    })

    it('fails the batch (a rejected task) when a worker cannot run it, and answers the next batch', async () => {
      const good = pack([json(reading('W', 1))])
      // A batch whose count asks the worker for impossible arrays: the task throws before any message.
      const broken: RawBatch = { ...pack([json(reading('W', 2))]), count: 2 ** 32 }
      await assert.rejects(pool.parse(broken))
      const out = await pool.parse(good)
      assert.equal(out.rowMessage.length, 1)
    })
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeBatch, decodeBatchInSlices } from '../../src/parse/decode-batch.js'
import { BAD_PAYLOADS, json, pack, reading } from '../helpers/payloads.js'

describe('decodeBatch', () => {
  it('encodes every valid reading as one row, in message order', () => {
    const out = decodeBatch(pack([json(reading('A', 1)), json(reading('B', 2)), json(reading('C', 3))]))
    assert.equal(out.rejections.length, 0)
    assert.deepEqual([...out.rowMessage], [0, 1, 2])
    assert.equal(out.rowEnds.length, 3)
    assert.equal(out.rowEnds[2], out.copy.byteLength)
    assert.equal(out.rowTimeMs[0], Date.UTC(2025, 6, 13, 10, 0, 0) + 100)
  })

  it('accepts optional fields absent or null and ignores unknown fields', () => {
    const minimal = { machine_id: 'M', timestamp: '2025-07-13T10:00:00+02:00', temperature: 1, spindle_speed: 2 }
    const nulls = { ...minimal, x_pos_mm: null, machine_state: null, active_program_line: null, firmware: 'v2' }
    const out = decodeBatch(pack([json(minimal), json(nulls)]))
    assert.deepEqual(out.rejections, [])
    assert.equal(out.rowEnds.length, 2)
  })

  for (const bad of BAD_PAYLOADS) {
    it(`rejects ${bad.name} as ${bad.reason}, keeping its neighbours`, () => {
      const out = decodeBatch(pack([json(reading('OK', 1)), bad.payload, json(reading('OK', 2))]))
      assert.equal(out.rejections.length, 1, JSON.stringify(out.rejections))
      const r = out.rejections[0]
      assert.equal(r?.index, 1)
      assert.equal(r?.code, bad.reason)
      assert.ok((r?.detail.length ?? 0) > 0)
      assert.deepEqual([...out.rowMessage], [0, 2])
    })
  }

  it('names the failing field in schema rejections', () => {
    const out = decodeBatch(pack([json(reading('X', 1, { temperature: 'hot' })), json({ machine_id: 'X', timestamp: '2025-07-13T10:00:00Z', temperature: 1 })]))
    assert.equal(out.rejections[0]?.detail, 'temperature: must be number')
    assert.equal(out.rejections[1]?.detail, 'spindle_speed: is required')
  })

  it('does not pollute prototypes through __proto__ or constructor keys', () => {
    const payload = '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"machine_id":"P","timestamp":"2025-07-13T10:00:00Z","temperature":1,"spindle_speed":2}'
    const out = decodeBatch(pack([payload]))
    assert.equal(out.rejections.length, 0)
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    assert.equal(Object.hasOwn(Object.prototype, 'polluted'), false)
  })

  it('gives the same answer for the same bytes every time', () => {
    const payloads = [json(reading('A', 1)), ...BAD_PAYLOADS.map((b) => b.payload)]
    const a = decodeBatch(pack(payloads))
    const b = decodeBatch(pack(payloads))
    assert.deepEqual(a.rejections, b.rejections)
    assert.deepEqual(Buffer.from(a.copy), Buffer.from(b.copy))
  })

  it('returns the payload bytes and offsets for dead letters', () => {
    const raw = pack(['{', json(reading('A', 1))])
    const out = decodeBatch(raw)
    assert.equal(Buffer.from(out.bytes.subarray(out.offsets[0], out.offsets[1])).toString(), '{')
  })

  describe('array payloads (batched readings)', () => {
    it('makes each element its own row, with its own JSON text', () => {
      const a = reading('ARR-1', 1)
      const b = reading('ARR-2', 2, { machine_state: 'with \\ escape, [bracket] and {brace}' })
      const out = decodeBatch(pack([json(reading('ONE', 0)), ` [ ${json(a)} ,\n${json(b)} ] `, json(reading('TWO', 3))]))
      assert.deepEqual(out.rejections, [])
      assert.deepEqual([...out.rowMessage], [0, 1, 1, 2])
      const text = (r: number): string => Buffer.from(out.bytes).toString('utf8', out.rowSpan[2 * r], out.rowSpan[2 * r + 1])
      assert.deepEqual(JSON.parse(text(1)), a)
      assert.deepEqual(JSON.parse(text(2)), b)
      assert.deepEqual(JSON.parse(text(3)), reading('TWO', 3))
      assert.deepEqual(out.machines, ['ONE', 'ARR-1', 'ARR-2', 'TWO'])
    })

    it('refuses a bad element alone, naming its index, and keeps the others', () => {
      const out = decodeBatch(pack([json([reading('E', 1), reading('E', 2, { temperature: 'hot' }), 7, reading('E', 4)])]))
      assert.deepEqual([...out.rowMessage], [0, 0])
      assert.deepEqual(out.rejections.map((r) => [r.index, r.element, r.code, r.detail]), [
        [0, 1, 'schema', 'element 1: temperature: must be number'],
        [0, 2, 'schema', 'element 2: message: must be object'],
      ])
    })

    it('refuses an empty array, and an array that is not JSON, as a whole message', () => {
      const out = decodeBatch(pack(['[]', `[${json(reading('T', 1))},`]))
      assert.deepEqual(out.rejections.map((r) => [r.index, r.element, r.code]), [[0, undefined, 'schema'], [1, undefined, 'invalid_json']])
      assert.equal(out.rowEnds.length, 0)
    })

    it('grows past the message count: 1,000 readings in 10 messages', () => {
      const msgs = Array.from({ length: 10 }, (_, m) => json(Array.from({ length: 100 }, (_, k) => reading(`M-${k}`, m * 100 + k))))
      const out = decodeBatch(pack(msgs))
      assert.equal(out.rowEnds.length, 1_000)
      assert.equal(out.rowEnds[999], out.copy.byteLength)
      assert.equal(out.machines.length, 100)
    })
  })

  it('decodes in slices exactly as in one go', async () => {
    const payloads = [
      ...Array.from({ length: 30 }, (_, n) => json(reading(`S-${n % 4}`, n))),
      ...BAD_PAYLOADS.map((b) => b.payload),
      json([reading('S-A', 1), { bad: true }, reading('S-A', 2)]),
    ]
    const whole = decodeBatch(pack(payloads))
    let pauses = 0
    const sliced = await decodeBatchInSlices(pack(payloads), 100, async () => { pauses++ })
    assert.ok(pauses > 10, `paused ${pauses} times`)
    assert.deepEqual(Buffer.from(sliced.copy), Buffer.from(whole.copy))
    assert.deepEqual([...sliced.rowMessage], [...whole.rowMessage])
    assert.deepEqual([...sliced.rowSpan], [...whole.rowSpan])
    assert.deepEqual(sliced.rejections, whole.rejections)
    assert.deepEqual(sliced.machines, whole.machines)
  })
})

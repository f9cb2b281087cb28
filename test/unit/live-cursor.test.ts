/**
 * The live feed's resume cursor (src/api/live-cursor.ts): one text per position, round trips, and
 * strict refusal of anything this server could not have sent; machine order is code point order.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { compareIds, cursorFrame, decodeCursor, encodeCursor } from '../../src/api/live-cursor.js'

describe('live cursor', () => {
  it('round-trips whole commits and machine positions, short', () => {
    for (const c of [{ commitNo: 1, machine: null }, { commitNo: 123_456_789, machine: 'CNC-001' }, { commitNo: Number.MAX_SAFE_INTEGER, machine: 'Fräse 7 ✓' }, { commitNo: 42, machine: 'x'.repeat(128) }]) {
      const text = encodeCursor(c)
      assert.match(text, /^[0-9a-z]+(\.[A-Za-z0-9_-]+)?$/)
      assert.deepEqual(decodeCursor(text), c)
    }
    assert.equal(encodeCursor({ commitNo: 123_456_789, machine: 'CNC-001' }), '21i3v9.Q05DLTAwMQ')
  })

  it('refuses anything it could not have sent', () => {
    const bad: unknown[] = [undefined, null, 42, {}, '', '0', '-1', 'A1', '21i3v9.', '21i3v9.Q05DLTAwMQ==', '21i3v9.Q05DLTAwMQ.x',
      '1'.repeat(12), 'zzzzzzzzzzz', '021i3v9', ' 21i3v9', '21i3v9 ', '21i3v9.AA', '21i3v9.Q05DLTAwMR',
      '1.' + Buffer.from('x'.repeat(129)).toString('base64url')]
    for (const b of bad) assert.equal(decodeCursor(b), null, JSON.stringify(b))
  })

  it('orders machine ids by code point (PostgreSQL "C" order of UTF-8)', () => {
    const ids = ['b', 'a', 'ab', '\uFF61', '\u{1F600}', 'A', '']
    const sorted = [...ids].sort(compareIds)
    assert.deepEqual(sorted, ['', 'A', 'a', 'ab', 'b', '\uFF61', '\u{1F600}'])
    const bytes = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    assert.deepEqual(sorted, bytes)
  })

  it('frames carry the cursor before the data', () => {
    assert.equal(cursorFrame({ commitNo: 35, machine: null }, ['{"a":1}', '{"a":2}']), '{"type":"readings","cursor":"z","data":[{"a":1},{"a":2}]}')
  })
})

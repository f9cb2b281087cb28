import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { microsToIso, parseRfc3339BigMicros, parseRfc3339Micros } from '../../src/parse/timestamp.js'

const Y2K_MS = Date.UTC(2000, 0, 1)

describe('parseRfc3339Micros', () => {
  it('agrees with Date for millisecond timestamps across offsets', () => {
    for (const s of ['2025-07-13T10:00:00Z', '2025-07-13T10:00:00.123+02:00', '1999-12-31T23:59:59.999-05:30', '2024-02-29T00:00:00z', '2024-02-29 12:00:00+00:00']) {
      assert.equal(parseRfc3339Micros(s), (Date.parse(s.replace(' ', 'T')) - Y2K_MS) * 1000, s)
    }
  })

  it('keeps microseconds and rounds finer fractions', () => {
    assert.equal(parseRfc3339Micros('2000-01-01T00:00:00.000001Z'), 1)
    assert.equal(parseRfc3339Micros('2000-01-01T00:00:00.0000015Z'), 2)
    assert.equal(parseRfc3339Micros('2000-01-01T00:00:00.123456789Z'), 123457)
    assert.equal(microsToIso(parseRfc3339Micros('2025-07-13T08:00:00.123457Z')), '2025-07-13T08:00:00.123457Z')
  })

  it('refuses what is not RFC 3339 with an offset, or not a real day', () => {
    for (const s of ['2025-07-13T10:00:00', '2025-07-13', '2025-13-01T00:00:00Z', '2025-02-29T00:00:00Z', '2025-04-31T00:00:00Z',
      '2025-07-13T24:00:00Z', '2025-07-13T10:60:00Z', '2025-07-13T10:00:00+24:00', '0000-01-01T00:00:00Z', ' 2025-07-13T10:00:00Z', 'garbage']) {
      assert.ok(Number.isNaN(parseRfc3339Micros(s)), s)
    }
  })

  it('is exact as a bigint far from 2000', () => {
    assert.equal(parseRfc3339BigMicros('0001-01-01T00:00:00Z'), -63082281600000000n)
    assert.equal(parseRfc3339BigMicros('9999-12-31T23:59:59.999999Z'), 252455615999999999n)
    assert.equal(parseRfc3339BigMicros('nope'), null)
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { MAX_MICROS, MIN_MICROS, isoToMicros, microsToIso } from '../../src/api/params.js'

describe('API time parameters', () => {
  it('µs → RFC 3339 → µs is exact across the calendar', () => {
    fc.assert(fc.property(fc.bigInt({ min: MIN_MICROS, max: MAX_MICROS }), (us) => {
      const iso = microsToIso(us)
      assert.match(iso, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
      assert.equal(isoToMicros(iso), us)
    }), { numRuns: 5_000 })
  })

  it('formats the edges and beyond', () => {
    assert.equal(microsToIso(0n), '2000-01-01T00:00:00.000000Z')
    assert.equal(microsToIso(-1n), '1999-12-31T23:59:59.999999Z')
    assert.equal(microsToIso(MIN_MICROS), '0001-01-01T00:00:00.000000Z')
    assert.equal(microsToIso(MAX_MICROS), '9999-12-31T23:59:59.999999Z')
    assert.equal(microsToIso(MIN_MICROS - 1n), '-infinity')
    assert.equal(microsToIso(MAX_MICROS + 1n), 'infinity')
    assert.equal(isoToMicros('2000-01-01T02:00:00.0000015+02:00'), 2n)
  })
})

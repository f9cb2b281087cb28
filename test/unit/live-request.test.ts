/**
 * Live-feed client messages (src/api/live-request.ts): subscribe and unsubscribe with the "exact"
 * choice, resume ("since" implies exact), and what is refused.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseLiveRequest } from '../../src/api/live-request.js'

const parse = (v: unknown) => parseLiveRequest(typeof v === 'string' ? v : JSON.stringify(v))

describe('live request', () => {
  it('reads subscribe and unsubscribe, with "exact" only when given', () => {
    assert.deepEqual(parse({ subscribe: ['CNC-001'] }), { type: 'change', subscribe: ['CNC-001'] })
    assert.deepEqual(parse({ subscribe: '*', exact: true }), { type: 'change', subscribe: '*', exact: true })
    assert.deepEqual(parse({ subscribe: ['a'], exact: false }), { type: 'change', subscribe: ['a'], exact: false })
    assert.deepEqual(parse({ unsubscribe: '*', subscribe: ['a'], exact: true }), { type: 'change', subscribe: ['a'], unsubscribe: '*', exact: true })
    assert.deepEqual(parse({ unsubscribe: ['a'] }), { type: 'change', unsubscribe: ['a'] })
  })

  it('reads a resume, exact by itself or saying so', () => {
    assert.deepEqual(parse({ subscribe: '*', since: '1' }), { type: 'resume', subscribe: '*', since: '1' })
    assert.deepEqual(parse({ subscribe: ['a'], since: 'x', exact: true }), { type: 'resume', subscribe: ['a'], since: 'x' })
  })

  it('refuses what is not one of those, saying why', () => {
    for (const [v, why] of [
      ['not json', /not JSON/],
      [[], /expected/],
      [{ subscribe: [1] }, /expected/],
      [{ subscribe: ['a\u0000'] }, /expected/],
      [{ subscribe: 'all' }, /expected/],
      [{ exact: true }, /expected/],
      [{ subscribe: ['a'], exact: 1 }, /true or false/],
      [{ unsubscribe: ['a'], exact: true }, /"exact" goes with "subscribe"/],
      [{ unsubscribe: ['a'], since: '1' }, /"since" goes with "subscribe"/],
      [{ subscribe: ['a'], unsubscribe: '*', since: '1' }, /"since" goes with "subscribe"/],
      [{ subscribe: ['a'], since: '1', exact: false }, /exact feed/],
    ] as const) {
      const r = parse(v)
      assert.equal(r.type, 'invalid', JSON.stringify(v))
      assert.match((r as { message: string }).message, why)
    }
  })
})

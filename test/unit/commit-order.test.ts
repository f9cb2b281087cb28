/**
 * CommitOrder (src/write/commit-order.ts): live publishes run in commit-number order even when a
 * higher number's COMMIT answer is handled first; a failed lower commit releases the ones after it.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CommitOrder } from '../../src/write/commit-order.js'

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('commit order', () => {
  it('runs at once when nothing lower is in flight, and without a number', () => {
    const o = new CommitOrder()
    const ran: number[] = []
    o.taken(1)
    o.settled(1)
    o.inOrder(1, () => ran.push(1))
    o.taken(3)
    o.inOrder(2, () => ran.push(2))
    o.inOrder(undefined, () => ran.push(0))
    assert.deepEqual(ran, [1, 2, 0])
    assert.equal(o.held, 0)
  })

  it('holds a publish that overtook a lower commit until that one settled and published', async () => {
    const o = new CommitOrder()
    const ran: number[] = []
    o.taken(5)
    o.taken(6)
    o.taken(7)
    // 7 and 6 answer first (out of order among themselves too).
    o.settled(7)
    o.inOrder(7, () => ran.push(7))
    o.settled(6)
    o.inOrder(6, () => ran.push(6))
    assert.equal(ran.length, 0)
    // 5 answers: its own publish follows in the same turn, then the held ones.
    o.settled(5)
    o.inOrder(5, () => ran.push(5))
    assert.deepEqual(ran, [5])
    await turn()
    assert.deepEqual(ran, [5, 6, 7])
    assert.equal(o.held, 2)
  })

  it('a lower commit that failed releases the ones after it', async () => {
    const o = new CommitOrder()
    const ran: number[] = []
    o.taken(1)
    o.taken(2)
    o.settled(2)
    o.inOrder(2, () => ran.push(2))
    o.settled(1) // rolled back: never published
    await turn()
    assert.deepEqual(ran, [2])
  })
})

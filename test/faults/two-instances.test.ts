/**
 * Fault 7: two instances on the same durable consumer (horizontal scale); one is killed -9 mid-load.
 * The survivor takes over the dead one's unacked messages after ack_wait and the accounting holds.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { FULL, Faults, waitFor } from './harness.js'
import { accounts, assertAccounting, prefill } from './load.js'

const TOTAL = FULL ? 300_000 : 60_000

describe('fault 7: two instances on one durable consumer, one killed -9', () => {
  let f: Faults
  before(async () => { f = await Faults.start() })
  after(async () => { await f?.stop() })

  it('lets the survivor carry on and loses or duplicates nothing', async (t) => {
    await prefill(f, 0, TOTAL)
    const a = f.spawnService()
    const b = f.spawnService()
    await Promise.all([a.waitReady(), b.waitReady()])
    await waitFor('both instances committing', async () =>
      await a.metric('cnc_messages_committed_total') > 0 && await b.metric('cnc_messages_committed_total') > 0, 60_000, 20)
    await waitFor('a third of the drain', async () => (await accounts(f)).rows > TOTAL / 3, 60_000, 20)
    const byA = await a.metric('cnc_messages_committed_total')
    a.kill('SIGKILL')
    await a.exit
    const mark = (await accounts(f)).rows
    await waitFor('the survivor to carry on', async () => (await accounts(f)).rows > mark + 5_000, 30_000, 50)
    const acc = await assertAccounting(f, { valid: TOTAL, published: TOTAL })
    const byB = await b.metric('cnc_messages_committed_total')
    t.diagnostic(`committed by A before the kill ≥ ${byA}; by B ${byB}; accounts ${JSON.stringify(acc)}`)
    assert.ok(b.alive)
    assert.equal((await b.readyz()).status, 200, 'the survivor is ready')
  })
})

/**
 * Fault 1: kill -9 the service at random points of a drain, restarting it each time. Batches in
 * flight when it dies are redelivered after ack_wait; one that committed but lost its acks must not
 * be stored twice.
 */
import { after, before, describe, it } from 'node:test'
import { CONSUMER, FULL, Faults, STREAM, sleep, waitFor } from './harness.js'
import { accounts, assertAccounting, prefill } from './load.js'

const TOTAL = FULL ? 200_000 : 40_000
const CYCLES = FULL ? 20 : 5

describe('fault 1: kill -9 during a drain', () => {
  let f: Faults
  before(async () => { f = await Faults.start() })
  after(async () => { await f?.stop() })

  it(`stores each of ${TOTAL}+ readings once across ${CYCLES} kill -9 cycles`, async (t) => {
    let total = TOTAL
    await prefill(f, 0, total)
    const jsm = await f.jsm()
    const points: string[] = []
    let ledgerHits = 0
    // A dead instance's unacked messages (up to max_ack_pending) wait out ack_wait (3 s), so kills are
    // placed by progress: after the instance committed a random number of readings (its own metric,
    // polled cheaply), plus a random few milliseconds. Should the drain end early, more is published.
    const step = Math.floor(TOTAL / (CYCLES * 2))
    const env = { CNC_INGEST_BATCH_SIZE: '2000' }
    for (let c = 0; c < CYCLES; c++) {
      const ci = await jsm.consumers.info(STREAM, CONSUMER).catch(() => null)
      if (ci !== null && ci.num_pending < 2 * step) {
        await prefill(f, total, total + 4 * step)
        total += 4 * step
      }
      const s = f.spawnService({ env })
      if (c % 4 === 3) {
        // Every fourth kill lands during start-up.
        await sleep(Math.random() * 400)
      } else {
        await s.waitReady()
        const target = Math.floor(step * (0.2 + 0.8 * Math.random()))
        await waitFor('progress before the kill', async () => await s.metric('cnc_messages_committed_total') >= target, 30_000, 5).catch(async (err: Error) => {
          throw new Error(`cycle ${c}: ${err.message}; ${JSON.stringify(await accounts(f))}\n${s.log()}`)
        })
        await sleep(Math.random() * 100)
      }
      // Best effort (a read just before the kill): how often the ledger caught a committed redelivery.
      if (s.port !== 0) ledgerHits += await s.metric('cnc_messages_already_committed_total').catch(() => 0) || 0
      s.kill('SIGKILL')
      await s.exit
      const after = await jsm.consumers.info(STREAM, CONSUMER).catch(() => null)
      points.push(after === null ? 'before consumer' : `${after.num_pending}+${after.num_ack_pending}`)
    }
    t.diagnostic(`pending+awaiting ack at each kill: ${points.join(' ')}`)
    const last = f.spawnService({ env })
    await last.waitReady()
    const a = await assertAccounting(f, { valid: total, published: total })
    t.diagnostic(`${total} published; accounts: ${JSON.stringify(a)}; redelivered to the last instance: ${await last.metric('cnc_messages_redelivered_total')}, ` +
      `of them already committed (ledger): ${await last.metric('cnc_messages_already_committed_total')}; ` +
      `ledger hits seen by the killed instances: ${ledgerHits}`)
  })
})

/**
 * Fault 2: SIGTERM under load. /readyz turns 503 at once, the process exits 0 within its drain
 * deadline, and nothing it committed comes back: a second instance then drains the rest and not one
 * row is stored twice.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { FULL, Faults, sleep, waitFor } from './harness.js'
import { LivePublisher, accounts, assertAccounting, prefill } from './load.js'

const BACKLOG = FULL ? 200_000 : 30_000
const DEADLINE_MS = 10_000

describe('fault 2: SIGTERM under load', () => {
  let f: Faults
  before(async () => { f = await Faults.start() })
  after(async () => { await f?.stop() })

  it('turns unready at once, exits 0 within its deadline, and leaves nothing it committed to redelivery', async (t) => {
    await prefill(f, 0, BACKLOG)
    const live = new LivePublisher(f, BACKLOG)
    live.start(100, 3_000)
    const a = f.spawnService({ env: { CNC_INGEST_SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS) } })
    await a.waitReady()
    await waitFor('some rows', async () => (await accounts(f)).rows > BACKLOG / 4, 60_000, 20)

    const signalledAt = Date.now()
    a.kill('SIGTERM')
    // Poll readiness as fast as it answers until the listener closes.
    const answers: Array<{ sentAt: number, status: number }> = []
    while (a.alive) {
      const sentAt = Date.now()
      let status: number
      try { status = (await a.readyz()).status } catch { status = -1 }
      answers.push({ sentAt, status })
      if (status === -1) break
      await sleep(5)
    }
    const code = await a.exit
    const exitMs = Date.now() - signalledAt
    const committedByA = await accounts(f)
    // When the process took the signal: its "draining" line (same clock).
    const drainLine = a.lines.find((l) => l.includes('"msg":"draining"'))
    const handledAt = drainLine === undefined ? Number.NaN : (JSON.parse(drainLine) as { time: number }).time
    const firstUnready = answers.find((x) => x.status !== 200)
    const firstUnreadyMs = firstUnready === undefined ? Number.NaN : firstUnready.sentAt - signalledAt
    t.diagnostic(`signal handled after ${handledAt - signalledAt} ms (event-loop lag under load); first /readyz sent after it ` +
      `answered ${answers.find((x) => x.sentAt >= handledAt)?.status}; first non-200 for a request sent ${firstUnreadyMs} ms after the signal; ` +
      `exited ${code} after ${exitMs} ms; rows at exit ${committedByA.rows}`)
    assert.ok(drainLine !== undefined, `the service logged taking the signal:\n${a.log()}`)
    const lateReady = answers.filter((x) => x.sentAt >= handledAt && x.status === 200)
    assert.deepEqual(lateReady, [], `every /readyz asked after the signal was taken answers 503:\n${a.log()}`)
    assert.ok(firstUnreadyMs < 1_000, `readiness turned 503 ${firstUnreadyMs} ms after SIGTERM`)
    assert.equal(code, 0, `exit code after a clean drain:\n${a.log()}`)
    assert.ok(exitMs < DEADLINE_MS, `exited within its deadline (${exitMs} ms)`)
    assert.equal(committedByA.rows, committedByA.distinct, 'no duplicates at exit')

    const b = f.spawnService()
    await b.waitReady()
    await sleep(1_000)
    await live.stop()
    await assertAccounting(f, { valid: BACKLOG + live.acked, published: BACKLOG + live.acked })
    // The ledger would hide a redelivered committed message from the row count: ask it directly.
    const again = await b.metric('cnc_messages_already_committed_total')
    t.diagnostic(`second instance: ${await b.metric('cnc_messages_redelivered_total')} redelivered (what the first nak'd on its way out), ${again} of them already committed`)
    assert.equal(again, 0, 'nothing the first instance committed came back')
  })
})

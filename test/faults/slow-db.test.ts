/**
 * Fault 6: a slow database. The writer's PostgreSQL backends are frozen (SIGSTOP), then the table is
 * held under an exclusive lock, each for a while longer than ack_wait (3 s here). Held batches are
 * kept alive with +WPI, so nothing is nak'd or redelivered; delivery stops at max_ack_pending, so memory
 * stays bounded; once the database moves again every reading commits once.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { FULL, Faults, sleep, waitFor, type ServiceProc } from './harness.js'
import { accounts, assertAccounting, prefill } from './load.js'

const TOTAL = FULL ? 300_000 : 60_000
const STALL_MS = FULL ? 30_000 : 7_000
const MB = 1024 * 1024

/**
 * Peak resident set and readings committed over `ms`. Counted from the service's metric: a count(*)
 * here would queue behind the test's own exclusive lock.
 */
async function watch (s: ServiceProc, ms: number): Promise<{ peakRss: number, committedDuring: number }> {
  // A COMMIT that returned just before the stall is counted a moment later: let it land first.
  await sleep(500)
  const until = Date.now() + ms
  let peakRss = 0
  const before = await s.metric('cnc_messages_committed_total')
  while (Date.now() < until) {
    peakRss = Math.max(peakRss, s.rss())
    await sleep(200)
  }
  return { peakRss, committedDuring: await s.metric('cnc_messages_committed_total') - before }
}

describe('fault 6: slow database', () => {
  let f: Faults
  before(async () => { f = await Faults.start() })
  after(async () => { await f?.stop() })

  it('keeps memory bounded, does not storm redeliveries, and loses nothing', async (t) => {
    await prefill(f, 0, TOTAL)
    const s = f.spawnService()
    await s.waitReady()
    await waitFor('some rows', async () => (await accounts(f)).rows > TOTAL / 6, 60_000, 20)
    const baseRss = s.rss()
    const redelivered0 = await s.metric('cnc_messages_redelivered_total')

    // 1. Freeze the COPY writer's backends mid-transaction.
    const pids = await f.pg.ingestBackends()
    assert.ok(pids.length > 0, 'the writer has backends')
    let frozen
    try {
      for (const pid of pids) process.kill(pid, 'SIGSTOP')
      frozen = await watch(s, STALL_MS)
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT')
    }
    const redeliveredFrozen = await s.metric('cnc_messages_redelivered_total') - redelivered0
    const mark = (await accounts(f)).rows
    await waitFor('progress after SIGCONT', async () => (await accounts(f)).rows > mark + 5_000, 30_000, 50)

    // 2. Hold an exclusive lock on the table.
    const locker = new pg.Client({ connectionString: f.pg.url })
    await locker.connect()
    let locked
    try {
      await locker.query('BEGIN')
      await locker.query('LOCK TABLE sensor_data IN ACCESS EXCLUSIVE MODE')
      locked = await watch(s, STALL_MS)
      await locker.query('COMMIT')
    } finally {
      await locker.end()
    }

    const a = await assertAccounting(f, { valid: TOTAL, published: TOTAL })
    const redelivered = await s.metric('cnc_messages_redelivered_total') - redelivered0
    t.diagnostic(`RSS before ${(baseRss / MB).toFixed(0)} MB; peak while frozen ${(frozen.peakRss / MB).toFixed(0)} MB (${frozen.committedDuring} committed); ` +
      `peak while locked ${(locked.peakRss / MB).toFixed(0)} MB (${locked.committedDuring} committed); redelivered ${redelivered} (${redeliveredFrozen} after the freeze); nak'd ${await s.metric('cnc_messages_nakd_total')}; ${JSON.stringify(a)}`)
    assert.equal(frozen.committedDuring, 0, 'nothing commits while the writer is frozen')
    assert.equal(locked.committedDuring, 0, 'nothing commits while the table is locked')
    // No storm, no redelivery at all: a slow database is waited for (writes queue for a connection
    // without a deadline, held batches send +WPI), never taken for a dead one and nak'd.
    const nakd = await s.metric('cnc_messages_nakd_total')
    assert.equal(nakd, 0, `nothing nak'd:\n${s.log()}`)
    assert.equal(redelivered, 0, `nothing redelivered:\n${s.log()}`)
    for (const peak of [frozen.peakRss, locked.peakRss]) {
      assert.ok(peak < baseRss * 1.5 + 64 * MB, `memory bounded: ${(peak / MB).toFixed(0)} MB against ${(baseRss / MB).toFixed(0)} MB before`)
    }
  })
})

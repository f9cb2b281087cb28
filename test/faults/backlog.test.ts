/**
 * Fault 8: backlog catch-up. The stream is pre-filled (2 million readings in the full run) before the
 * service starts; it drains them with flat memory: the peak resident set stays under a fixed cap, and
 * after warm-up (the first third of the drain) the last third peaks no higher than the middle one.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { FULL, Faults, sleep } from './harness.js'
import { accounts, assertAccounting, prefill } from './load.js'

const TOTAL = Number(process.env.FAULTS_BACKLOG ?? (FULL ? 2_000_000 : 150_000))
const MB = 1024 * 1024
/** The pipeline holds at most max_ack_pending messages, so the bound does not depend on the backlog. */
const RSS_CAP_MB = Number(process.env.FAULTS_RSS_CAP_MB ?? 400)

describe('fault 8: backlog catch-up', () => {
  let f: Faults
  before(async () => { f = await Faults.start() })
  after(async () => { await f?.stop() })

  it(`drains ${TOTAL} pre-filled readings with flat memory`, async (t) => {
    await prefill(f, 0, TOTAL, 50_000)
    const s = f.spawnService()
    const startedAt = Date.now()
    await s.waitReady()
    const samples: Array<{ rows: number, rss: number }> = []
    for (;;) {
      const a = await accounts(f)
      samples.push({ rows: a.rows, rss: s.rss() })
      if (a.pending === 0 && a.ackPending === 0) break
      await sleep(250)
    }
    const secs = (Date.now() - startedAt) / 1000
    // Warm-up (JIT, heap growth, pools) fills the first third; after it the peak must not climb.
    const third = Math.floor(samples.length / 3)
    const peak = (xs: typeof samples): number => Math.max(...xs.map((x) => x.rss))
    const middle = peak(samples.slice(third, 2 * third))
    const last = peak(samples.slice(2 * third))
    const overall = peak(samples)
    t.diagnostic(`${TOTAL} readings in ${secs.toFixed(1)} s (${Math.round(TOTAL / secs)}/s incl. start-up); peak RSS ${(overall / MB).toFixed(0)} MB; middle third ${(middle / MB).toFixed(0)} MB, last third ${(last / MB).toFixed(0)} MB`)
    const every = Math.max(1, Math.floor(samples.length / 12))
    t.diagnostic('rows:RSS MB ' + samples.filter((_, i) => i % every === 0).map((x) => `${x.rows}:${(x.rss / MB).toFixed(0)}`).join(' '))
    assert.ok(samples.length >= 4, 'enough samples')
    assert.ok(overall < RSS_CAP_MB * MB, `peak RSS ${(overall / MB).toFixed(0)} MB under ${RSS_CAP_MB} MB whatever the backlog`)
    assert.ok(last <= middle * 1.25 + 48 * MB, `memory flat after warm-up: ${(middle / MB).toFixed(0)} MB then ${(last / MB).toFixed(0)} MB`)
    await assertAccounting(f, { valid: TOTAL, published: TOTAL })
  })
})

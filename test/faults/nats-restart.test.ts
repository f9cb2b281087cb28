/**
 * Fault 4: nats-server restarted mid-load, cleanly and with kill -9. The pull source pulls again on
 * reconnect, and its watchdog pulls again when nothing (not even an idle heartbeat) arrives for three
 * heartbeat periods, so ingest must resume without help; /readyz says 503 while NATS is away and the
 * reconnects are counted. Publishers retry with the same Nats-Msg-Id until JetStream acknowledges, so
 * the stream holds each message once.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { FULL, Faults, sleep, waitFor } from './harness.js'
import { LivePublisher, assertAccounting, prefill, rowCount } from './load.js'

const BACKLOG = FULL ? 200_000 : 40_000
const DOWN_MS = FULL ? 5_000 : 1_500

describe('fault 4: nats-server restarted mid-load', () => {
  let f: Faults
  before(async () => { f = await Faults.start() })
  after(async () => { await f?.stop() })

  it('resumes by itself after a clean restart and after kill -9', async (t) => {
    await prefill(f, 0, BACKLOG)
    const live = new LivePublisher(f, BACKLOG)
    live.start(100, 2_000)
    const s = f.spawnService()
    await s.waitReady()
    let mark = 0
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      await waitFor('progress before the restart', async () => await rowCount(f) > mark + BACKLOG / 4, 60_000, 20)
      await f.nats.restart(signal, DOWN_MS)
      const upAt = Date.now()
      mark = await rowCount(f)
      await waitFor(`ingest to resume after ${signal}`, async () => await rowCount(f) > mark + 5_000, 60_000, 50)
      t.diagnostic(`${signal}: ingest resumed ${Date.now() - upAt} ms after nats-server came back`)
    }
    await sleep(1_000)
    await live.stop()
    t.diagnostic(`live publisher: ${live.acked} acknowledged, ${live.failures} publish attempts failed and were retried`)
    const a = await assertAccounting(f, { valid: BACKLOG + live.acked, published: BACKLOG + live.acked })
    const reconnects = await s.metric('cnc_nats_reconnects_total')
    t.diagnostic(`accounts ${JSON.stringify(a)}; redelivered ${await s.metric('cnc_messages_redelivered_total')}; ` +
      `reconnects ${reconnects}; pull stalls ${await s.metric('cnc_pull_stalls_total')}`)
    assert.ok(s.alive, 'the service rode out both restarts')
    assert.ok(reconnects >= 2, 'both reconnects counted in metrics')
  })

  it('reports a NATS outage in /readyz and in metrics', async () => {
    const s = f.spawnService()
    await s.waitReady()
    await f.nats.stop('SIGKILL')
    await waitFor('/readyz 503 while NATS is down', async () => (await s.readyz()).status === 503, 10_000, 100)
    await f.nats.start()
    await s.waitReady(30_000)
    assert.ok(await s.metric('cnc_nats_reconnects_total') >= 1, 'the reconnect is counted')
  })
})

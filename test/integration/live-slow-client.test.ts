/**
 * A client that subscribes to "*" (exact: every reading, beside the default throttle) and then
 * stops reading must not hurt ingest or other clients:
 * frames are discarded for it (counted) while more than live.max_buffered_bytes wait for it, and
 * it is disconnected once it stayed over for a second (counted as dropped),
 * a reading client still gets every reading, and the consumer settles at about the rate it has
 * without any client. Behaviour is asserted; the rate comparison is only a generous bound.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Service } from '../../src/service.js'
import { json, reading } from '../helpers/payloads.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, prefill, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'
import { WsClient } from '../helpers/ws-client.js'

const LIVE = '/api/v1/live'
const MACHINES = 20

const payloads = (from: number, n: number): string[] =>
  Array.from({ length: n }, (_, i) => json(reading(`SLOW-${(from + i) % MACHINES}`, from + i)))

async function metric (port: number, line: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  return Number(line.exec(text)?.[1] ?? NaN)
}

describe('a slow live-feed client', () => {
  let t: TestEnv
  let service: Service

  before(async () => {
    t = await createTestEnv('LIVESLOW')
    // The default throttle: the clients below opt in to every reading ("exact"), the costly kind.
    service = await startService(t, { CNC_LIVE_MAX_BUFFERED_BYTES: '262144' })
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
  })

  it('is dropped and counted; ingest and a reading client carry on', async () => {
    const port = service.httpPort
    const timed = async (from: number, n: number): Promise<number> => {
      const started = performance.now()
      await prefill(t, payloads(from, n))
      await waitSettled(t, 120_000)
      return n / ((performance.now() - started) / 1000)
    }
    const baseline = await timed(0, 30_000)

    const fast = await WsClient.connect(port, LIVE)
    const slow = await WsClient.connect(port, LIVE)
    for (const ws of [fast, slow]) {
      ws.send({ subscribe: '*', exact: true })
      await ws.next((m) => m.type === 'subscribed')
    }
    slow.socket.pause()

    const N = 60_000
    const withSlow = await timed(30_000, N)
    await waitFor('the reading client to get every reading', () =>
      fast.messages.reduce((s, m) => s + (m.type === 'readings' ? (m.data as unknown[]).length : 0), 0) >= N, 30_000)
    const got = fast.readings()
    assert.equal(got.length, N)
    assert.equal(new Set(got.map((r) => r.spindle_speed)).size, N)

    // The drop happens once the client stayed over the limit for its grace second, which may end after
    // the last reading was delivered: wait for it (issue 15: sampling once raced that second).
    const dropped = /^cnc_live_clients_dropped_total\{reason="slow"\} (\d+)$/m
    await waitFor('the stalled client to be dropped', async () => await metric(port, dropped) >= 1 && await metric(port, /^cnc_live_clients (\d+)$/m) === 1, 30_000, 100)
    assert.equal(await metric(port, dropped), 1)
    // Frames published during the grace second are counted; how many depends on the batch timing.
    assert.ok(await metric(port, /^cnc_live_messages_discarded_total (\d+)$/m) >= 0)
    assert.equal(await metric(port, /^cnc_live_clients (\d+)$/m), 1)
    assert.equal(Number((await t.query<{ n: string }>('SELECT count(*) AS n FROM sensor_data'))[0]?.n), 30_000 + N)
    // Generous: the point is "not stalled", the figures are in bench/RESULTS.md.
    assert.ok(withSlow > baseline / 4, `ingest ${withSlow.toFixed(0)} msg/s with a slow client vs ${baseline.toFixed(0)} without`)
    process.stderr.write(`# ingest ${baseline.toFixed(0)} msg/s without clients, ${withSlow.toFixed(0)} msg/s with one reading and one stalled client\n`)

    slow.socket.resume()
    await waitFor('the dropped socket to close', () => slow.closeCode !== undefined, 10_000)
    fast.close()
  })
})

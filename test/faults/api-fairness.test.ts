/**
 * Issue 17, API fairness: eight clients reading fleet/latest in pages of 5,000 over 50,000
 * machines (200,000 with FAULTS_FULL=1), as fast as they can, while small routes are polled and 2,000 readings are ingested.
 * Stated bounds (generous for a busy 2-core CI box; figures measured here in the README):
 *   - /livez answers within LIVEZ_MAX_MS, /machines/{id}/latest within LATEST_MAX_MS, always 200;
 *   - heavy calls answer 200 or 503 api_busy (Retry-After), never database_unavailable;
 *   - the event loop is never blocked longer than LOOP_MAX_MS;
 *   - the 2,000 readings are committed within INGEST_MAX_MS.
 * Before: each call built one string over every machine id (14–15 s and 2.7 s event-loop stalls
 * at 200,000 machines), and waiting for a connection answered database_unavailable after 5 s.
 */
import assert from 'node:assert/strict'
import { get as httpGet } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Service } from '../../src/service.js'
import { json, reading } from '../helpers/payloads.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, prefill, waitFor, type TestEnv } from '../helpers/test-env.js'
import { FULL } from './harness.js'

// FAULTS_FULL=1 (npm run test:faults): the issue's size, 200,000 machines, for 15 s.
const MACHINES = FULL ? 200_000 : 50_000
const HEAVY_CLIENTS = 8
const PHASE_MS = FULL ? 15_000 : 5_000
// Wall-clock bounds include time the process waits for a CPU: on this box (load average ~20 on
// 2 cores while other sessions test) a quiet-box 100 ms stall reads as up to ~800 ms.
const LIVEZ_MAX_MS = 3_000
const LATEST_MAX_MS = 5_000
const LOOP_MAX_MS = 2_000
const INGEST_MAX_MS = 30_000

/** GET that drains the body without parsing it (the client side costs next to nothing). */
function drain (url: string): Promise<{ status: number, bytes: number, head: string }> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      let bytes = 0
      let head = ''
      res.on('data', (c: Buffer) => { bytes += c.length; if (head.length < 200) head += c.toString('utf8', 0, Math.min(c.length, 200)) })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, head }))
      res.on('error', reject)
    }).on('error', reject)
  })
}

describe('API fairness under heavy reads', () => {
  let t: TestEnv
  let service: Service
  let base: string

  before(async () => {
    t = await createTestEnv('FAIR')
    service = await startService(t, { CNC_INGEST_LINGER_MS: '10' })
    base = `http://127.0.0.1:${service.httpPort}`
    await t.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, machine_state)
      SELECT now(), 'F-' || lpad(g::text, 6, '0'), g % 90, 1000, 'RUNNING' FROM generate_series(1, ${MACHINES}) g`)
    await t.query('ANALYZE sensor_data')
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
  })

  it('small routes and ingest keep answering within the stated bounds', async () => {
    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    const until = Date.now() + PHASE_MS
    const heavy = { ok: 0, busy: 0, other: [] as string[], bytes: 0 }
    const heavyClient = async (): Promise<void> => {
      let cursor: string | null = null
      while (Date.now() < until) {
        const r = await drain(`${base}/api/v1/fleet/latest?limit=5000${cursor === null ? '' : `&cursor=${cursor}`}`)
        heavy.bytes += r.bytes
        if (r.status === 200) {
          heavy.ok++
          cursor = (JSON.parse(r.head.slice(0, r.head.indexOf('"data":')) + '"data":[]}') as { next_cursor: string | null }).next_cursor
        } else if (r.status === 503 && r.head.includes('"api_busy"')) {
          heavy.busy++
        } else {
          heavy.other.push(`${r.status} ${r.head.slice(0, 120)}`)
        }
      }
    }
    const small = { livez: [] as number[], latest: [] as number[], bad: [] as string[] }
    const smallClient = async (): Promise<void> => {
      while (Date.now() < until) {
        let t0 = performance.now()
        const l = await drain(`${base}/livez`)
        small.livez.push(performance.now() - t0)
        if (l.status !== 200) small.bad.push(`livez ${l.status}`)
        t0 = performance.now()
        const m = await drain(`${base}/api/v1/machines/F-000042/latest`)
        small.latest.push(performance.now() - t0)
        if (m.status !== 200) small.bad.push(`latest ${m.status} ${m.head.slice(0, 120)}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    const committed = async (): Promise<number> => Number((await t.query<{ n: string }>("SELECT count(*) AS n FROM sensor_data WHERE machine_id LIKE 'ING-%'"))[0]?.n)
    const ingestStarted = Date.now()
    const publish = prefill(t, Array.from({ length: 2_000 }, (_, n) => json(reading(`ING-${n % 20}`, n))))
    // Timed while the heavy reads run (polled alongside them), not after.
    const ingested = waitFor('2,000 readings committed', async () => (await committed()) === 2_000, INGEST_MAX_MS, 100)
      .then(() => Date.now() - ingestStarted)
    await Promise.all([...Array.from({ length: HEAVY_CLIENTS }, heavyClient), smallClient(), publish])
    const ingestMs = await ingested
    loop.disable()
    const max = (xs: number[]): number => Math.round(Math.max(...xs))
    const p99 = (xs: number[]): number => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)] ?? 0)
    const figures = {
      heavyOk: heavy.ok,
      heavyBusy: heavy.busy,
      heavyMB: Math.round(heavy.bytes / 1e6),
      livezMaxMs: max(small.livez),
      latestMaxMs: max(small.latest),
      latestP99Ms: p99(small.latest),
      loopMaxMs: Math.round(loop.max / 1e6),
      loopP99Ms: Math.round(loop.percentile(99) / 1e6),
      ingestMs,
    }
    process.stdout.write(`# fairness figures ${JSON.stringify(figures)}\n`)
    assert.deepEqual(heavy.other, [], 'heavy calls answer 200 or api_busy only')
    assert.ok(heavy.ok >= HEAVY_CLIENTS, `heavy calls were served (${heavy.ok})`)
    assert.deepEqual(small.bad, [], 'small routes always answer 200')
    assert.ok(small.livez.length >= 3, 'small routes were polled')
    assert.ok(figures.livezMaxMs < LIVEZ_MAX_MS, `/livez max ${figures.livezMaxMs} ms`)
    assert.ok(figures.latestMaxMs < LATEST_MAX_MS, `/latest max ${figures.latestMaxMs} ms`)
    assert.ok(figures.loopMaxMs < LOOP_MAX_MS, `event loop blocked ${figures.loopMaxMs} ms`)
  })
})

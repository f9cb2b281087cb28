/**
 * GET /api/v1/machines/:id/events: readings published through JetStream and committed by the service,
 * then events derived from them (plant.offline_after_seconds = 300), checked against a hand-made list,
 * in one page and in pages of one (an instant with two events included), and the same after a restart.
 *
 *   E1 (UTC, 2025-02-03): 10:00 IDLE · 10:01 IDLE · 10:02 RUNNING · 10:04 RUNNING · 10:20 ALARM · 10:21 (null)
 *       · 10:22 RUNNING and SETUP (same instant) · 10:23 SETUP, then silence
 *   E2: 08:00 RUNNING · 08:01 RUNNING · 10:30 RUNNING
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Service } from '../../src/service.js'
import { ApiClient, assertNo5xx } from '../helpers/api-client.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, prefill, waitFor, type TestEnv } from '../helpers/test-env.js'

interface Ev { type: string, at: string, from: string | null, to: string | null, previous_seconds: number | null }
interface Page { count: number, has_more: boolean, next_cursor: string | null, data: Ev[], effective_end_time: string }

const T = (hms: string): string => `2025-02-03T${hms}.000000Z`
const READINGS: Array<[string, string, string | null]> = [
  ['E1', '10:00:00', 'IDLE'], ['E1', '10:01:00', 'IDLE'], ['E1', '10:02:00', 'RUNNING'], ['E1', '10:04:00', 'RUNNING'],
  ['E1', '10:20:00', 'ALARM'], ['E1', '10:21:00', null], ['E1', '10:22:00', 'SETUP'], ['E1', '10:22:00', 'RUNNING'], ['E1', '10:23:00', 'SETUP'],
  ['E2', '08:00:00', 'RUNNING'], ['E2', '08:01:00', 'RUNNING'], ['E2', '10:30:00', 'RUNNING'],
]
const ev = (type: string, hms: string, from: string | null, to: string | null, prev: number | null): Ev =>
  ({ type, at: T(hms), from, to, previous_seconds: prev })
const E1_EVENTS: Ev[] = [
  ev('online', '10:00:00', null, 'IDLE', null),
  ev('state', '10:02:00', 'IDLE', 'RUNNING', 120),
  ev('offline', '10:09:00', 'RUNNING', 'offline', 420),
  ev('online', '10:20:00', 'offline', 'ALARM', 660),
  ev('state', '10:21:00', 'ALARM', null, 60),
  ev('state', '10:22:00', null, 'RUNNING', 60),
  ev('state', '10:22:00', 'RUNNING', 'SETUP', 0),
  ev('offline', '10:28:00', 'SETUP', 'offline', 360),
]
const WINDOW = `start_time=${T('09:00:00')}&end_time=${T('11:00:00')}`

describe('machine events', () => {
  let t: TestEnv
  let service: Service
  let c: ApiClient
  const start = async (): Promise<void> => {
    service = await startService(t, { CNC_PLANT_OFFLINE_AFTER_SECONDS: '300', CNC_INGEST_LINGER_MS: '5' })
    c = new ApiClient(`http://127.0.0.1:${service.httpPort}`)
  }

  before(async () => {
    t = await createTestEnv('EVENTS')
    await start()
    await prefill(t, READINGS.map(([id, hms, state]) =>
      JSON.stringify({ machine_id: id, timestamp: `2025-02-03T${hms}Z`, temperature: 20, spindle_speed: 1000, machine_state: state })))
    await waitFor('every reading committed', async () =>
      Number((await t.query<{ n: string }>('SELECT count(*) AS n FROM sensor_data'))[0]?.n) === READINGS.length, 60_000, 100)
  })
  after(async () => {
    assertNo5xx(c)
    c?.assertDocumented()
    await service?.close()
    await t?.cleanup()
  })

  it('lists offline, online and state changes with the length of the span each one ends', async () => {
    const r = await c.get(`/api/v1/machines/E1/events?${WINDOW}`)
    assert.equal(r.status, 200, r.text)
    const p = r.json<Page>()
    assert.deepEqual(p.data, E1_EVENTS)
    assert.equal(p.has_more, false)
    assert.equal(p.next_cursor, null)
  })

  it('pages of one give the same events, an instant with two events split by the cursor', async () => {
    const seen: Ev[] = []
    let path = `/api/v1/machines/E1/events?${WINDOW}&limit=1`
    for (let i = 0; i < 20; i++) {
      const p = (await c.get(path)).json<Page>()
      seen.push(...p.data)
      if (p.next_cursor === null) break
      path = `/api/v1/machines/E1/events?limit=1&cursor=${p.next_cursor}`
    }
    assert.deepEqual(seen, E1_EVENTS)
  })

  it('a window inside the history: events in it only, spans measured from events before it', async () => {
    const p = (await c.get(`/api/v1/machines/E1/events?start_time=${T('10:05:00')}&end_time=${T('10:21:00')}`)).json<Page>()
    assert.deepEqual(p.data, E1_EVENTS.slice(2, 5))
    const early = (await c.get(`/api/v1/machines/E1/events?start_time=${T('10:00:00')}&end_time=${T('10:25:00')}`)).json<Page>()
    assert.deepEqual(early.data, E1_EVENTS.slice(0, 7), 'no offline before the silence has passed inside the window')
    const e2 = (await c.get(`/api/v1/machines/E2/events?${WINDOW}`)).json<Page>()
    assert.deepEqual(e2.data, [ev('online', '10:30:00', 'offline', 'RUNNING', 8_640), ev('offline', '10:35:00', 'RUNNING', 'offline', 300)],
      'the offline at 08:06 is before the window, its span measured all the same')
  })

  it('a restart neither invents nor forgets an event; bad input is a 400 naming it', async () => {
    await service.close()
    await start()
    assert.deepEqual((await c.get(`/api/v1/machines/E1/events?${WINDOW}`)).json<Page>().data, E1_EVENTS)
    const bad = await c.get('/api/v1/machines/E1/events?cursor=nope')
    assert.equal(bad.status, 400)
    assert.match(bad.text, /invalid_cursor/)
    const lim = await c.get('/api/v1/machines/E1/events?limit=0')
    assert.equal(lim.status, 400)
    assert.match(lim.text, /limit must be an integer/)
  })
})

/**
 * GET /api/v1/fleet/latest and GET /api/v1/machines/:id/states against hand-computed fixtures in
 * a real PostgreSQL (rows inserted directly; ingest is covered elsewhere).
 *
 * Fixture M1 (fleet.max_gap_seconds = 1200, running_states = RUNNING,SETUP):
 *   09:50 IDLE · 10:10 RUNNING · 10:20 ALARM · 10:25 RUNNING · 10:40 (no state) · 10:45 SETUP · 11:30 RUNNING
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Service } from '../../src/service.js'
import { ApiClient } from '../helpers/api-client.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, type TestEnv } from '../helpers/test-env.js'

type States = {
  window_seconds: number
  running_seconds: number
  no_data_seconds: number
  utilization: number | null
  utilization_of_known: number | null
  running_states: string[]
  effective_end_time: string
  states: Array<{ state: string | null, seconds: number, share: number | null, running: boolean }>
}

const at = (hhmm: string): string => `2025-01-01T${hhmm}:00Z`
const FIXTURE: Array<[string, string | null]> = [
  ['09:50', 'IDLE'], ['10:10', 'RUNNING'], ['10:20', 'ALARM'], ['10:25', 'RUNNING'], ['10:40', null], ['10:45', 'SETUP'], ['11:30', 'RUNNING'],
]

const byState = (s: States): Record<string, number> =>
  Object.fromEntries(s.states.map((x) => [x.state ?? '(none)', x.seconds]))

describe('fleet latest and machine states', () => {
  let t: TestEnv
  let service: Service
  let c: ApiClient

  before(async () => {
    t = await createTestEnv('FLEET')
    service = await startService(t, {
      CNC_FLEET_RUNNING_STATES: 'RUNNING,SETUP',
      CNC_FLEET_MAX_GAP_SECONDS: '1200',
      CNC_FLEET_STALE_AFTER_SECONDS: '600',
    })
    c = new ApiClient(`http://127.0.0.1:${service.httpPort}`)
    const ins = 'INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, spindle_load_percent, machine_state) VALUES ($1, $2, $3, $4, $5, $6)'
    for (const [i, [hhmm, state]] of FIXTURE.entries()) await t.query(ins, [at(hhmm), 'M1', 20 + i, 1000 + i, 10 + i, state])
    await t.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, machine_state)
      VALUES (now() - interval '5 minutes', 'M2', 55.5, 9000, 'RUNNING'), (now() - interval '8 minutes', 'M2', 50, 8000, 'IDLE')`)
    await t.query(ins, [at('08:00'), 'M0', 1.5, 2, null, 'ALARM'])
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
  })

  it('fleet/latest: the newest row of every machine, ordered by id, with age and stale', async () => {
    const r = await c.get('/api/v1/fleet/latest')
    assert.equal(r.status, 200, r.text)
    const body = r.json<{ count: number, stale_after_seconds: number, data: Array<Record<string, unknown>> }>()
    assert.equal(body.stale_after_seconds, 600)
    assert.deepEqual(body.data.map((d) => d.machine_id), ['M0', 'M1', 'M2'])
    const [m0, m1, m2] = body.data as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>]
    assert.equal(m0.timestamp, '2025-01-01T08:00:00.000000Z')
    assert.equal(m0.spindle_load_percent, null)
    assert.equal(m1.timestamp, '2025-01-01T11:30:00.000000Z')
    assert.equal(m1.machine_state, 'RUNNING')
    assert.equal(m1.temperature, 26)
    assert.equal(m1.stale, true)
    assert.equal(m2.temperature, 55.5)
    assert.equal(m2.stale, false)
    assert.ok(Math.abs((m2.age_seconds as number) - 300) < 30, String(m2.age_seconds))
    // Same shape as /latest plus age_seconds and stale.
    const latest = (await c.get('/api/v1/machines/M1/latest')).json()
    assert.deepEqual({ ...m1, age_seconds: undefined, stale: undefined }, { ...latest, age_seconds: undefined, stale: undefined })
  })

  it('states: window inside the data, state at the start from the reading before it', async () => {
    const s = (await c.get(`/api/v1/machines/M1/states?start_time=${at('10:00')}&end_time=${at('11:00')}`)).json<States>()
    assert.equal(s.window_seconds, 3600)
    assert.deepEqual(byState(s), { IDLE: 600, RUNNING: 1500, ALARM: 300, '(none)': 300, SETUP: 900 })
    assert.equal(s.no_data_seconds, 0)
    assert.equal(s.running_seconds, 2400)
    assert.equal(s.utilization, 0.666667)
    assert.deepEqual(s.running_states, ['RUNNING', 'SETUP'])
    assert.deepEqual(s.states.filter((x) => x.running).map((x) => x.state).sort(), ['RUNNING', 'SETUP'])
    assert.equal(s.states.find((x) => x.state === 'ALARM')?.share, 0.083333)
  })

  it('states: a gap over max_gap_seconds becomes no data; a reading at end_time counts for nothing', async () => {
    const s = (await c.get(`/api/v1/machines/M1/states?start_time=${at('10:30')}&end_time=${at('11:30')}`)).json<States>()
    assert.deepEqual(byState(s), { RUNNING: 600, '(none)': 300, SETUP: 1200 })
    assert.equal(s.no_data_seconds, 1500)
    assert.equal(s.running_seconds, 1800)
    assert.equal(s.utilization, 0.5)
    assert.equal(s.utilization_of_known, 0.857143)
  })

  it('states: before the first reading is no data; an empty or future window has no utilization', async () => {
    const s = (await c.get(`/api/v1/machines/M1/states?start_time=${at('09:00')}&end_time=${at('09:55')}`)).json<States>()
    assert.deepEqual(byState(s), { IDLE: 300 })
    assert.equal(s.no_data_seconds, 3000)
    assert.equal(s.utilization, 0)
    const none = (await c.get(`/api/v1/machines/NOPE/states?start_time=${at('09:00')}&end_time=${at('10:00')}`)).json<States>()
    assert.deepEqual(none.states, [])
    assert.equal(none.no_data_seconds, 3600)
    const future = (await c.get('/api/v1/machines/M1/states?start_time=2999-01-01T00:00:00Z&end_time=2999-01-01T01:00:00Z')).json<States>()
    assert.equal(future.window_seconds, 0)
    assert.equal(future.utilization, null)
  })

  it('states: the window ends at now(), the last state holds until then', async () => {
    const start = new Date(Date.now() - 10 * 60_000).toISOString()
    const end = new Date(Date.now() + 3_600_000).toISOString()
    const s = (await c.get(`/api/v1/machines/M2/states?start_time=${start}&end_time=${end}`)).json<States>()
    assert.ok(Math.abs(s.window_seconds - 600) < 30, String(s.window_seconds))
    const st = byState(s)
    assert.ok(Math.abs((st.RUNNING ?? 0) - 300) < 30, JSON.stringify(s))
    assert.ok(Math.abs((st.IDLE ?? 0) - 180) < 1, JSON.stringify(s))
    assert.ok(Math.abs(s.no_data_seconds - 120) < 30, JSON.stringify(s))
    assert.ok(Date.parse(s.effective_end_time) < Date.now() + 1000)
  })

  it('states: bad parameters are 400', async () => {
    assert.equal((await c.get(`/api/v1/machines/M1/states?start_time=${at('11:00')}&end_time=${at('10:00')}`)).status, 400)
    assert.equal((await c.get('/api/v1/machines/M1/states?start_time=yesterday')).status, 400)
    assert.equal((await c.get('/api/v1/machines/M1/states?start_time=2020-01-01T00:00:00Z&end_time=2025-01-01T00:00:00Z')).json<{ error: { code: string } }>().error.code, 'range_too_large')
  })
})

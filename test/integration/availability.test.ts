/**
 * GET /api/v1/machines/:id/availability and /api/v1/fleet/availability against the hand-computed
 * fixtures of test/helpers/plant-fixture.ts (daylight-saving nights, midnight-spanning shifts with a
 * break after midnight, micro stops, no data) on a real PostgreSQL; rows inserted directly.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Service } from '../../src/service.js'
import { ApiClient, assertNo5xx } from '../helpers/api-client.js'
import { AUTUMN_NIGHT, PLANT_ENV, PLANT_READINGS, SPRING_DAYS, SPRING_NIGHT, type Expected } from '../helpers/plant-fixture.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, type TestEnv } from '../helpers/test-env.js'

type Period = Expected & { shift: string | null, date: string, start: string, end: string }
type Answer = Record<string, unknown> & { total: Expected, periods: Period[] }
type Fleet = Record<string, unknown> & { machines: string[], periods: Array<Period & { machines: Array<Expected & { machine_id: string }> }> }

const measures = (p: Expected): Expected => ({
  planned_seconds: p.planned_seconds,
  running_seconds: p.running_seconds,
  stopped_seconds: p.stopped_seconds,
  no_data_seconds: p.no_data_seconds,
  availability: p.availability,
  micro_stops: p.micro_stops,
})

describe('availability by shift and by day', () => {
  let t: TestEnv
  let service: Service
  let c: ApiClient

  before(async () => {
    t = await createTestEnv('AVAIL')
    service = await startService(t, PLANT_ENV)
    c = new ApiClient(`http://127.0.0.1:${service.httpPort}`)
    for (const [time, id, state] of PLANT_READINGS) {
      await t.query('INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, machine_state) VALUES ($1, $2, 20, 1000, $3)', [time, id, state])
    }
  })
  after(async () => {
    assertNo5xx(c)
    c?.assertDocumented()
    await service?.close()
    await t?.cleanup()
  })

  it('spring forward: the night shift lasts 7 h (6.5 h planned), micro stop counted apart', async () => {
    const r = await c.get('/api/v1/machines/M-DST/availability?start_time=2025-03-29T21:00:00Z&end_time=2025-03-30T04:00:00Z&group=shift')
    assert.equal(r.status, 200, r.text)
    const a = r.json<Answer>()
    assert.equal(a.time_zone, 'Europe/Berlin')
    assert.equal(a.periods.length, 1, JSON.stringify(a.periods))
    const p = a.periods[0] as Period
    assert.deepEqual([p.shift, p.date, p.start, p.end], ['night', '2025-03-29', '2025-03-29T21:00:00.000000Z', '2025-03-30T04:00:00.000000Z'])
    assert.deepEqual(measures(p), SPRING_NIGHT)
    assert.deepEqual(measures(a.total), SPRING_NIGHT)
  })

  it('fall back: the night shift lasts 9 h (8.5 h planned)', async () => {
    const a = (await c.get('/api/v1/machines/M-DST/availability?start_time=2025-10-25T20:00:00Z&end_time=2025-10-26T05:00:00Z')).json<Answer>()
    assert.equal(a.group, 'shift')
    assert.deepEqual(a.periods.map((p) => [p.shift, p.date, p.start, p.end]), [['night', '2025-10-25', '2025-10-25T20:00:00.000000Z', '2025-10-26T05:00:00.000000Z']])
    assert.deepEqual(measures(a.periods[0] as Period), AUTUMN_NIGHT)
  })

  it('group=day: production days in plant time, a night shift counting for the day it starts', async () => {
    const a = (await c.get('/api/v1/machines/M-DST/availability?start_time=2025-03-29T00:00:00%2B01:00&end_time=2025-03-31T00:00:00%2B02:00&group=day')).json<Answer>()
    assert.deepEqual(a.periods.map((p) => p.date), SPRING_DAYS.map((d) => d.date))
    for (const [i, e] of SPRING_DAYS.entries()) {
      const { date, ...want } = e
      assert.deepEqual(measures(a.periods[i] as Period), want, date)
    }
    // Local midnights: 03-30 has 23 hours.
    assert.deepEqual([a.periods[2]?.start, a.periods[2]?.end], ['2025-03-29T23:00:00.000000Z', '2025-03-30T22:00:00.000000Z'])
    assert.equal(a.total.planned_seconds, 19_800 + 50_400 + 34_200)
    assert.equal(a.total.running_seconds, 15_540 + 3_600)
  })

  it('running seconds agree with /states over the same stretch of planned time', async () => {
    const w = 'start_time=2025-03-29T21:00:00Z&end_time=2025-03-29T23:00:00Z'
    const a = (await c.get(`/api/v1/machines/M-DST/availability?${w}`)).json<Answer>()
    const s = (await c.get(`/api/v1/machines/M-DST/states?${w}`)).json<{ running_seconds: number, no_data_seconds: number, window_seconds: number }>()
    assert.equal(a.total.planned_seconds, s.window_seconds)
    assert.equal(a.total.running_seconds, s.running_seconds)
    assert.equal(a.total.running_seconds, 1_800 + 3_540)
    assert.equal(a.total.no_data_seconds, s.no_data_seconds)
  })

  it('fleet: every machine with readings, per period, and the fleet total', async () => {
    const f = (await c.get('/api/v1/fleet/availability?start_time=2025-03-29T21:00:00Z&end_time=2025-03-30T04:00:00Z')).json<Fleet>()
    assert.deepEqual(f.machines, ['M-2', 'M-DST'])
    assert.equal(f.periods.length, 1)
    const p = f.periods[0] as Fleet['periods'][number]
    assert.deepEqual(measures(p.machines[1] as Expected), SPRING_NIGHT)
    assert.deepEqual(measures(p.machines[0] as Expected), {
      planned_seconds: 23_400, running_seconds: 3_600, stopped_seconds: 0, no_data_seconds: 19_800, availability: 0.153846, micro_stops: { count: 0, seconds: 0 },
    })
    assert.deepEqual(measures(p), {
      planned_seconds: 46_800, running_seconds: 19_140, stopped_seconds: 3_060, no_data_seconds: 24_600, availability: 0.408974, micro_stops: { count: 1, seconds: 60 },
    })
  })

  it('no planned time: availability null; a future window measures nothing; bad input is a 400 naming it', async () => {
    const empty = (await c.get('/api/v1/machines/M-DST/availability?start_time=2025-03-29T09:00:00Z&end_time=2025-03-29T09:20:00Z')).json<Answer>()
    assert.equal(empty.periods.length, 1)
    assert.equal(empty.total.planned_seconds, 0)
    assert.equal(empty.total.availability, null)
    const future = (await c.get('/api/v1/machines/M-DST/availability?start_time=2999-01-01T00:00:00Z&end_time=2999-01-02T00:00:00Z')).json<Answer>()
    assert.equal(future.total.planned_seconds, 0)
    assert.ok(future.periods.length >= 2)
    const bad = await c.get('/api/v1/machines/M-DST/availability?group=week')
    assert.equal(bad.status, 400)
    assert.match(bad.text, /group must be one of shift, day/)
    const long = await c.get('/api/v1/fleet/availability?start_time=2025-01-01T00:00:00Z&end_time=2025-03-01T00:00:00Z')
    assert.equal(long.status, 400)
    assert.match(long.text, /range_too_large/)
  })
})

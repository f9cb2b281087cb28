/**
 * Availability on the TimescaleDB path: the hand-computed fixtures of test/helpers/plant-fixture.ts
 * through store/availability.ts on PGlite + TimescaleDB (sensor_data a hypertable), before and after
 * its chunks are compressed, and equal to plain PostgreSQL on the same rows.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { periodsOf } from '../../src/api/availability.js'
import { isoToMicros } from '../../src/api/params.js'
import { loadConfig } from '../../src/config/load.js'
import { availabilityRows, type AvailabilityRow } from '../../src/store/availability.js'
import { ShiftCalendar } from '../../src/time/shift-calendar.js'
import { detectFeatures } from '../../src/write/db-features.js'
import { migrate } from '../../src/write/migrate.js'
import type { SqlClient } from '../../src/write/sql-client.js'
import { AUTUMN_NIGHT, PLANT_ENV, PLANT_READINGS, SPRING_DAYS, SPRING_NIGHT, type Expected } from '../helpers/plant-fixture.js'
import { createTestEnv, migratedPool, silentLog, type TestEnv } from '../helpers/test-env.js'
import { openTimescalePglite, type PgliteClient } from './pglite-client.js'

const cfg = loadConfig([], PLANT_ENV)
const cal = new ShiftCalendar(cfg.plant)
const r6 = (v: number): number => Math.round(v * 1e6) / 1e6
const micros = (iso: string): bigint => isoToMicros(iso) as bigint

/** Per period, as the API sums them (windows in the past: the effective end is the end). */
async function measure (db: SqlClient, startIso: string, endIso: string, group: 'shift' | 'day'): Promise<Array<Expected & { date: string }>> {
  const start = micros(startIso)
  const end = micros(endIso)
  const plan = periodsOf(cal, group, start, end, end)
  const rows = await availabilityRows(db, {
    machineIds: ['M-DST'],
    fromIso: new Date(Date.parse(startIso) - 120_000).toISOString(),
    toIso: new Date(Date.parse(endIso) + 120_000).toISOString(),
    maxGapSeconds: cfg.fleet.max_gap_seconds,
    runningStates: cfg.fleet.running_states,
    microStopSeconds: cfg.plant.micro_stop_seconds,
    starts: plan.starts,
    ends: plan.ends,
    periods: plan.index,
  })
  return plan.order.map((i) => {
    const p = plan.periods[i]
    assert.ok(p !== undefined)
    const mine = rows.filter((r: AvailabilityRow) => r.period === i)
    const sum = (f: (r: AvailabilityRow) => number): number => r6(mine.reduce((t, r) => t + f(r), 0))
    const planned = Number(p.plannedUs) / 1e6
    return {
      date: new Date(p.startMs + 12 * 3_600_000).toISOString().slice(0, 10),
      planned_seconds: planned,
      running_seconds: sum((r) => r.running),
      stopped_seconds: sum((r) => r.stopped),
      no_data_seconds: sum((r) => r.no_data),
      availability: planned > 0 ? r6(sum((r) => r.running) / planned) : null,
      micro_stops: { count: sum((r) => r.micro_count), seconds: sum((r) => r.micro_seconds) },
    }
  })
}

const strip = ({ date: _date, ...rest }: Expected & { date: string }): Expected => rest

async function checkFixtures (db: SqlClient, what: string): Promise<void> {
  assert.deepEqual((await measure(db, '2025-03-29T21:00:00Z', '2025-03-30T04:00:00Z', 'shift')).map(strip), [SPRING_NIGHT], `${what}: spring night`)
  assert.deepEqual((await measure(db, '2025-10-25T20:00:00Z', '2025-10-26T05:00:00Z', 'shift')).map(strip), [AUTUMN_NIGHT], `${what}: autumn night`)
  const days = await measure(db, '2025-03-28T23:00:00Z', '2025-03-30T22:00:00Z', 'day')
  assert.deepEqual(days.map(strip), SPRING_DAYS.map(strip), `${what}: days`)
}

describe('availability on TimescaleDB (PGlite) and plain PostgreSQL', () => {
  let ts: PgliteClient
  let env: TestEnv
  let plain: pg.Pool

  before(async () => {
    ts = await openTimescalePglite()
    const features = await detectFeatures(ts, silentLog)
    assert.ok(features.hypertable && features.compression)
    await migrate(ts, features, silentLog)
    env = await createTestEnv('TSA')
    plain = await migratedPool(env)
    const ins = 'INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, machine_state) VALUES ($1, $2, 20, 1000, $3)'
    for (const row of PLANT_READINGS) {
      await ts.query(ins, row)
      await plain.query(ins, row)
    }
  })
  after(async () => {
    await ts?.close()
    await plain?.end()
    await env?.cleanup()
  })

  test('plain PostgreSQL: the hand-computed values', async () => {
    await checkFixtures(plain, 'postgres')
  })

  test('TimescaleDB hypertable: the same values', async () => {
    const ht = await ts.query<{ n: number }>("SELECT count(*)::int AS n FROM timescaledb_information.hypertables WHERE hypertable_name = 'sensor_data'")
    assert.equal(ht.rows[0]?.n, 1)
    await checkFixtures(ts, 'timescaledb')
  })

  test('TimescaleDB with every chunk compressed: the same values', async () => {
    const c = await ts.query<{ n: number }>("SELECT count(compress_chunk(c, if_not_compressed => true))::int AS n FROM show_chunks('sensor_data') c")
    assert.ok((c.rows[0]?.n ?? 0) > 0)
    await checkFixtures(ts, 'timescaledb compressed')
  })
})

/**
 * Buckets from the continuous aggregate (src/store/cagg-buckets.ts) against the raw table: on PGlite +
 * TimescaleDB the cagg path must equal date_bin over sensor_data on the same data, and both must equal
 * plain PostgreSQL's date_bin results on the shared server (a private database) for the same rows.
 * Covers materialized minutes, real-time minutes (newer than the last refresh), partial edge minutes,
 * ranges inside one minute, NULLs, and bucket sizes that do not divide an hour.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import type { Agg, BucketRequest, BucketRow } from '../../src/store/buckets.js'
import { bucketQuery } from '../../src/store/buckets.js'
import { caggAnswers, caggBuckets, rawBuckets, withCagg } from '../../src/store/cagg-buckets.js'
import { ensureDatabase } from '../../src/write/database.js'
import { detectFeatures } from '../../src/write/db-features.js'
import { migrate } from '../../src/write/migrate.js'
import { applyTimescaleSettings } from '../../src/write/timescale-setup.js'
import { createTestEnv, silentLog, type TestEnv } from '../helpers/test-env.js'
import { openTimescalePglite, type PgliteClient } from './pglite-client.js'
import { insertRows, makeRows } from './readings-fixture.js'

const AGGS: readonly Agg[] = ['avg', 'min', 'max', 'last']
const MACHINES = ['CNC-001', 'CNC-002', 'CNC-003']
const NOW = Date.now()
/** 3 machines × 2,400 readings ~1.5 s apart: the last hour or so, ending now. */
const ROWS = makeRows(MACHINES, 2_400, NOW, 1_500, 42)
const SPLIT = Math.floor((NOW - 900_000) / 60_000) * 60_000
const iso = (ms: number): string => new Date(ms).toISOString()

/** Requests: whole span, edges off the minute (ms and µs), one minute's inside, odd bucket sizes. */
const REQUESTS: Array<Omit<BucketRequest, 'agg'>> = [
  { machineId: 'CNC-001', startIso: iso(NOW - 2 * 3_600_000), endIso: iso(NOW + 60_000), bucketSeconds: 60 },
  { machineId: 'CNC-002', startIso: iso(NOW - 3_000_000 + 17_123), endIso: iso(NOW - 400_000 + 41_877), bucketSeconds: 300 },
  { machineId: 'CNC-003', startIso: '2000-01-03T00:00:00.000001Z', endIso: iso(NOW), bucketSeconds: 420 },
  { machineId: 'CNC-001', startIso: iso(NOW - 1_800_000 + 5_000), endIso: iso(NOW - 1_800_000 + 45_000), bucketSeconds: 60 },
  { machineId: 'CNC-002', startIso: iso(NOW - 4_000_000), endIso: iso(NOW), bucketSeconds: 3_600 },
  { machineId: 'CNC-404', startIso: iso(NOW - 3_600_000), endIso: iso(NOW), bucketSeconds: 60 },
]

function assertSameBuckets (actual: BucketRow[], expected: BucketRow[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: bucket count`)
  for (let r = 0; r < expected.length; r++) {
    const a = actual[r] as BucketRow
    const e = expected[r] as BucketRow
    assert.equal(a.length, e.length, `${what}: row width`)
    for (let c = 0; c < e.length; c++) {
      const x = a[c]
      const y = e[c]
      if (typeof x === 'number' && typeof y === 'number' && !Number.isInteger(y)) {
        // avg: Σsum/Σcount over minutes vs one pass over rows — equal up to summation order.
        assert.ok(Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y)), `${what}: row ${r} col ${c}: ${x} vs ${y}`)
      } else {
        assert.equal(x, y, `${what}: row ${r} col ${c} (bucket ${String(e[0])})`)
      }
    }
  }
}

describe('buckets from sensor_data_1m', () => {
  let ts: PgliteClient
  let env: TestEnv
  let plain: pg.Pool

  before(async () => {
    ts = await openTimescalePglite()
    const features = await detectFeatures(ts, silentLog)
    assert.ok(features.caggs)
    await migrate(ts, features, silentLog)
    // Most rows exist before the first start (filled by the first full refresh); the newest arrive
    // after it. The watermark is the end of the newest materialized minute, so the split is on a
    // minute: a minute half-materialized would (rightly) stay stale until the next refresh.
    await insertRows(ts, ROWS.filter((r) => Date.parse(r[0]) < SPLIT))
    await applyTimescaleSettings(ts, features, { chunk_interval: '1 hour', compress_after: '7 days', retention: 'off', cagg_refresh_every: '1 minute', cagg_refresh_lag: '10 minutes', cagg_refresh_window: '1 day' }, silentLog)
    await insertRows(ts, ROWS.filter((r) => Date.parse(r[0]) >= SPLIT))

    env = await createTestEnv('TSB')
    await ensureDatabase(env.databaseUrl, silentLog)
    plain = new pg.Pool({ connectionString: env.databaseUrl, max: 1 })
    const client = await plain.connect()
    try {
      const pf = await detectFeatures(client, silentLog)
      assert.equal(pf.edition, 'postgres')
      await migrate(client, pf, silentLog)
      await applyTimescaleSettings(client, pf, { chunk_interval: '1 day', compress_after: '7 days', retention: 'off', cagg_refresh_every: '1 minute', cagg_refresh_lag: '1 minute', cagg_refresh_window: '1 day' }, silentLog)
      await insertRows(client, ROWS)
    } finally {
      client.release()
    }
  })
  after(async () => {
    await ts?.close()
    await plain?.end()
    await env?.cleanup()
  })

  test('the aggregate holds materialized and real-time minutes', async () => {
    const wm = await ts.query<{ wm: Date }>('SELECT _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(mat_hypertable_id)) AS wm FROM _timescaledb_catalog.continuous_agg')
    assert.equal(wm.rows[0]?.wm.getTime(), SPLIT, 'materialized up to the split')
    const newer = await ts.query<{ n: number }>('SELECT sum(readings)::int AS n FROM sensor_data_1m WHERE bucket >= $1::timestamptz', [iso(SPLIT)])
    assert.equal(newer.rows[0]?.n, ROWS.filter((r) => Date.parse(r[0]) >= SPLIT).length, 'minutes newer than the last refresh are visible (real time)')
    const total = await ts.query<{ n: number }>('SELECT sum(readings)::int AS n FROM sensor_data_1m')
    assert.equal(total.rows[0]?.n, ROWS.length)
  })

  test('only whole minutes go to the aggregate', () => {
    assert.ok(caggAnswers(60) && caggAnswers(420) && caggAnswers(86_400))
    assert.ok(!caggAnswers(30) && !caggAnswers(90) && !caggAnswers(0))
  })

  for (const agg of AGGS) {
    test(`${agg}: cagg = raw on TimescaleDB = date_bin on plain PostgreSQL`, async () => {
      let nonEmpty = 0
      for (const r of REQUESTS) {
        const q: BucketRequest = { ...r, agg }
        const fromCagg = await caggBuckets(ts, q)
        const fromRaw = await rawBuckets(ts, q)
        const fromPlain = await rawBuckets(plain, q)
        const what = `${agg} ${q.machineId} ${q.startIso}..${q.endIso} /${q.bucketSeconds}s`
        assertSameBuckets(fromCagg, fromRaw, `${what} cagg vs raw`)
        assertSameBuckets(fromCagg, fromPlain, `${what} cagg vs plain`)
        if (fromCagg.length > 0) nonEmpty++
      }
      assert.equal(nonEmpty, REQUESTS.length - 1, 'every request but the unknown machine has buckets')
    })
  }

  test('the API\'s date_bin query (store/buckets.ts) draws the same buckets as the reference', async () => {
    const api = bucketQuery('postgres')
    const routed = withCagg(api)
    for (const agg of AGGS) {
      for (const r of REQUESTS) {
        const q: BucketRequest = { ...r, agg }
        assertSameBuckets(await api(plain, q), await rawBuckets(plain, q), `api ${agg} ${q.machineId} /${q.bucketSeconds}s`)
      }
    }
    const q: BucketRequest = { ...(REQUESTS[0] as Omit<BucketRequest, 'agg'>), agg: 'avg', bucketSeconds: 30 }
    assertSameBuckets(await routed(plain, q), await rawBuckets(plain, q), 'sub-minute buckets bypass the aggregate')
  })

  test('counts add up to the rows in range, edges included', async () => {
    const q: BucketRequest = { ...(REQUESTS[1] as Omit<BucketRequest, 'agg'>), agg: 'avg' }
    const rows = ROWS.filter((r) => r[1] === q.machineId && r[0] >= q.startIso && r[0] <= q.endIso).length
    const buckets = await caggBuckets(ts, q)
    assert.equal(buckets.reduce((s, b) => s + b[1], 0), rows)
  })

  test('late data: stale until the refresh policy runs, then equal again', async () => {
    const late = makeRows(['CNC-001'], 4, NOW - 1_800_000 + 50_000, 2_000, 99)
    await insertRows(ts, late)
    await insertRows(plain, late)
    const q: BucketRequest = { ...(REQUESTS[0] as Omit<BucketRequest, 'agg'>), agg: 'max' }
    const total = (rows: BucketRow[]): number => rows.reduce((s, b) => s + b[1], 0)
    assert.equal(total(await caggBuckets(ts, q)), total(await rawBuckets(ts, q)) - 4, 'below the watermark until refreshed')
    const job = await ts.query<{ job_id: number }>("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_refresh_continuous_aggregate'")
    await ts.query(`CALL run_job(${job.rows[0]?.job_id})`)
    assertSameBuckets(await caggBuckets(ts, q), await rawBuckets(plain, q), 'after refresh')
  })
})

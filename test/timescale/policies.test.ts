/**
 * The TimescaleDB write side through the project's own code on PGlite + TimescaleDB 2.23 (in-process):
 * detection, migrations (idempotent), hypertable chunk interval, compression settings and policy,
 * retention policy, the continuous aggregate and its refresh policy, and the Apache-licence path.
 * Background jobs never fire in this build, so each policy is proven by CALL run_job(id).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { loadConfig } from '../../src/config/load.js'
import { detectFeatures, featuresFor, type DbFeatures } from '../../src/write/db-features.js'
import { migrate } from '../../src/write/migrate.js'
import { dropExpiredChunks, selfRetention } from '../../src/write/retention.js'
import { applyTimescaleSettings, checkTimescaleSettings, intervalSeconds, type TimescaleSettings } from '../../src/write/timescale-setup.js'
import { silentLog } from '../helpers/test-env.js'
import { openTimescalePglite, type PgliteClient } from './pglite-client.js'
import { insertRows, makeRows } from './readings-fixture.js'

const SETTINGS: TimescaleSettings = {
  chunk_interval: '6 hours',
  compress_after: '7 days',
  retention: '30 days',
  cagg_refresh_every: '5 minutes',
  cagg_refresh_lag: '1 minute',
  cagg_refresh_window: '3 days',
}
const DAY = 86_400_000

async function jobs (db: PgliteClient): Promise<Array<{ job_id: number, proc_name: string, hypertable_name: string, schedule_interval: string, config: Record<string, string> }>> {
  return (await db.query<{ job_id: number, proc_name: string, hypertable_name: string, schedule_interval: string, config: Record<string, string> }>(
    "SELECT job_id, proc_name, hypertable_name, schedule_interval::text, config FROM timescaledb_information.jobs WHERE proc_name LIKE 'policy_%' AND proc_name <> 'policy_job_stat_history_retention' ORDER BY proc_name")).rows
}

async function jobId (db: PgliteClient, proc: string): Promise<number> {
  const j = (await jobs(db)).find((r) => r.proc_name === proc)
  assert.ok(j, `no ${proc} job`)
  return j.job_id
}

async function count (db: PgliteClient, sql: string): Promise<number> {
  return Number((await db.query<{ n: number }>(sql)).rows[0]?.n)
}

describe('config: timescale section', () => {
  test('defaults, interval syntax and the rules between keys', () => {
    const c = loadConfig([], {})
    assert.deepEqual(c.timescale, { chunk_interval: '1 day', compress_after: '7 days', retention: 'off', cagg_refresh_every: '1 minute', cagg_refresh_lag: '1 minute', cagg_refresh_window: '3 days' })
    assert.equal(loadConfig([], { CNC_TIMESCALE_RETENTION: '' }).timescale.retention, '')
    assert.throws(() => loadConfig([], { CNC_TIMESCALE_CHUNK_INTERVAL: '1 month' }), /timescale\.chunk_interval/)
    assert.throws(() => loadConfig([], { CNC_TIMESCALE_COMPRESS_AFTER: 'never' }), /timescale\.compress_after/)
    assert.equal(intervalSeconds('12 hours'), 43_200)
    assert.equal(intervalSeconds('off'), null)
    assert.equal(checkTimescaleSettings(SETTINGS), null)
    assert.match(checkTimescaleSettings({ ...SETTINGS, retention: '2 days' }) ?? '', /retention: must be longer/)
    assert.match(checkTimescaleSettings({ ...SETTINGS, cagg_refresh_window: '2 minutes' }) ?? '', /cagg_refresh_window/)
  })
})

describe('TimescaleDB Community licence (PGlite)', () => {
  let db: PgliteClient
  let features: DbFeatures
  before(async () => { db = await openTimescalePglite() })
  after(async () => { await db?.close() })

  test('detects the extension and the licence', async () => {
    features = await detectFeatures(db, silentLog)
    assert.equal(features.edition, 'timescaledb')
    assert.equal(features.mode, 'timescaledb')
    assert.equal(features.timescaleLicense, 'timescale')
    assert.ok(features.hypertable && features.compression && features.caggs)
  })

  test('migrations apply once, in order, and are idempotent', async () => {
    const applied = await migrate(db, features, silentLog)
    assert.deepEqual(applied.filter((v) => v.startsWith('timescale/')),
      ['timescale/001_hypertable', 'timescale/community/000_replace_plain_view', 'timescale/community/001_compression', 'timescale/community/002_sensor_data_1m'])
    assert.deepEqual(await migrate(db, features, silentLog), [])
    const ht = await db.query<{ hypertable_name: string, compression_enabled: boolean }>('SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables ORDER BY 1')
    assert.deepEqual(ht.rows.find((r) => r.hypertable_name === 'sensor_data'), { hypertable_name: 'sensor_data', compression_enabled: true })
    const seg = await db.query<{ attname: string, segmentby_column_index: number | null, orderby_asc: boolean | null }>(
      "SELECT attname, segmentby_column_index, orderby_asc FROM timescaledb_information.compression_settings WHERE hypertable_name = 'sensor_data' ORDER BY attname")
    assert.deepEqual(seg.rows, [{ attname: 'machine_id', segmentby_column_index: 1, orderby_asc: null }, { attname: 'time', segmentby_column_index: null, orderby_asc: false }])
    const cagg = await db.query<{ materialized_only: boolean }>("SELECT materialized_only FROM timescaledb_information.continuous_aggregates WHERE view_name = 'sensor_data_1m'")
    assert.deepEqual(cagg.rows, [{ materialized_only: false }], 'real-time aggregation on')
  })

  test('settings: chunk interval and the three policies, applied once and changed only when config changes', async () => {
    // History from before the aggregate existed: 40 days of sparse rows, written before the first start.
    await insertRows(db, makeRows(['CNC-A', 'CNC-B'], 200, Date.now() - 60_000, 5 * 3_600_000, 11))
    const first = await applyTimescaleSettings(db, features, SETTINGS, silentLog)
    assert.deepEqual([...first.changed].sort(), ['cagg_filled', 'cagg_refresh_policy', 'chunk_interval', 'compression_policy', 'retention_policy'])
    const dim = await db.query<{ s: number }>("SELECT extract(epoch FROM time_interval)::int AS s FROM timescaledb_information.dimensions WHERE hypertable_name = 'sensor_data'")
    assert.equal(dim.rows[0]?.s, 6 * 3_600)
    const j = await jobs(db)
    assert.deepEqual(j.map((r) => r.proc_name), ['policy_compression', 'policy_refresh_continuous_aggregate', 'policy_retention'])
    assert.equal(intervalSeconds(SETTINGS.compress_after), await count(db, `SELECT extract(epoch FROM (config->>'compress_after')::interval)::int AS n FROM timescaledb_information.jobs WHERE job_id = ${j[0]?.job_id}`))
    assert.equal(j[2]?.config.drop_after, '30 days')
    assert.equal(j[1]?.config.start_offset, '3 days')
    assert.equal(j[1]?.schedule_interval, '00:05:00')
    // The first start filled the aggregate with all history, older than the refresh window included.
    assert.equal(await count(db, 'SELECT sum(readings)::int AS n FROM sensor_data_1m'), 400)
    assert.equal(await count(db, "SELECT count(*)::int AS n FROM sensor_data_1m WHERE bucket < now() - interval '20 days'") > 0, true)

    const again = await applyTimescaleSettings(db, features, SETTINGS, silentLog)
    assert.deepEqual(again.changed, [])
    assert.deepEqual((await jobs(db)).map((r) => r.job_id), j.map((r) => r.job_id), 'same jobs kept')

    const changed = await applyTimescaleSettings(db, features, { ...SETTINGS, compress_after: '14 days', cagg_refresh_every: '1 minute' }, silentLog)
    assert.deepEqual(changed.changed, ['compression_policy', 'cagg_refresh_policy'])
    const off = await applyTimescaleSettings(db, features, { ...SETTINGS, compress_after: 'off', retention: 'off' }, silentLog)
    assert.deepEqual(off.changed, ['compression_policy', 'retention_policy', 'cagg_refresh_policy'], 'refresh schedule back to 5 minutes')
    assert.deepEqual((await jobs(db)).map((r) => r.proc_name), ['policy_refresh_continuous_aggregate'])
    await applyTimescaleSettings(db, features, SETTINGS, silentLog)
  })

  test('the compression policy compresses old chunks and reads stay the same', async () => {
    const before = await db.query('SELECT machine_id, count(*)::int AS n, sum(temperature) AS t FROM sensor_data GROUP BY 1 ORDER BY 1')
    await db.query(`CALL run_job(${await jobId(db, 'policy_compression')})`)
    const compressed = await count(db, "SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'sensor_data' AND is_compressed")
    const recent = await count(db, "SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'sensor_data' AND NOT is_compressed AND range_end > now() - interval '7 days'")
    assert.ok(compressed > 0, 'chunks older than compress_after are compressed')
    assert.ok(recent > 0, 'recent chunks stay uncompressed')
    assert.equal(await count(db, "SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'sensor_data' AND NOT is_compressed AND range_end < now() - interval '8 days'"), 0)
    assert.deepEqual((await db.query('SELECT machine_id, count(*)::int AS n, sum(temperature) AS t FROM sensor_data GROUP BY 1 ORDER BY 1')).rows, before.rows)
    // Late data into a compressed chunk is still accepted (the writer does not know chunk states).
    await insertRows(db, makeRows(['CNC-A'], 1, Date.now() - 20 * DAY, 1000, 3))
    assert.equal(await count(db, 'SELECT count(*)::int AS n FROM sensor_data'), 401)
    // Every file re-runs cleanly on the finished schema, compressed chunks included.
    await db.query('DELETE FROM schema_migrations')
    assert.equal((await migrate(db, features, silentLog)).length, 8)
    assert.deepEqual(await migrate(db, features, silentLog), [])
  })

  test('the refresh policy materializes late data; real-time aggregation shows what is newer', async () => {
    const realtime = makeRows(['CNC-C'], 5, Date.now(), 1000, 5)
    await insertRows(db, realtime)
    assert.equal(await count(db, "SELECT sum(readings)::int AS n FROM sensor_data_1m WHERE machine_id = 'CNC-C'"), 5, 'newest rows show before any refresh')
    const late = makeRows(['CNC-C'], 3, Date.now() - DAY, 1000, 6)
    await insertRows(db, late)
    assert.equal(await count(db, "SELECT coalesce(sum(readings), 0)::int AS n FROM sensor_data_1m WHERE machine_id = 'CNC-C' AND bucket < now() - interval '1 hour'"), 0, 'late rows below the watermark wait for a refresh')
    await db.query(`CALL run_job(${await jobId(db, 'policy_refresh_continuous_aggregate')})`)
    assert.equal(await count(db, "SELECT sum(readings)::int AS n FROM sensor_data_1m WHERE machine_id = 'CNC-C'"), 8)
  })

  test('the retention policy drops chunks older than retention (and the aggregate keeps their minutes)', async () => {
    const cagged = await count(db, 'SELECT sum(readings)::int AS n FROM sensor_data_1m')
    assert.ok(await count(db, "SELECT count(*)::int AS n FROM sensor_data WHERE time < now() - interval '31 days'") > 0)
    await db.query(`CALL run_job(${await jobId(db, 'policy_retention')})`)
    assert.equal(await count(db, "SELECT count(*)::int AS n FROM sensor_data WHERE time < now() - interval '31 days'"), 0)
    assert.equal(await count(db, 'SELECT sum(readings)::int AS n FROM sensor_data_1m'), cagged, 'refresh window < retention: buckets of dropped chunks survive')
    await db.query(`CALL run_job(${await jobId(db, 'policy_refresh_continuous_aggregate')})`)
    assert.equal(await count(db, 'SELECT sum(readings)::int AS n FROM sensor_data_1m'), cagged)
  })
})

describe('TimescaleDB Apache licence (PGlite, licence forced)', () => {
  let db: PgliteClient
  before(async () => { db = await openTimescalePglite() })
  after(async () => { await db?.close() })

  test('hypertable only: no compression, no continuous aggregate, no policies', async () => {
    // This build always reports 'timescale' and refuses SET timescaledb.license: the detection
    // result is replaced by what an Apache build reports.
    const detected = await detectFeatures(db, silentLog)
    const features = featuresFor(detected.serverVersion, detected.timescaleVersion ?? '', 'apache')
    assert.equal(features.edition, 'timescaledb-apache')
    assert.ok(features.hypertable && !features.compression && !features.caggs)
    const applied = await migrate(db, features, silentLog)
    assert.ok(applied.includes('timescale/001_hypertable'))
    assert.equal(applied.filter((v) => v.startsWith('timescale/community/')).length, 0)
    const state = await applyTimescaleSettings(db, features, SETTINGS, silentLog)
    assert.deepEqual(state, { chunkInterval: '6 hours', compressAfter: null, retention: null, caggRefresh: null, changed: ['chunk_interval'] })
    assert.equal(await count(db, "SELECT count(*)::int AS n FROM timescaledb_information.hypertables WHERE hypertable_name = 'sensor_data' AND NOT compression_enabled"), 1)
    assert.equal(await count(db, 'SELECT count(*)::int AS n FROM timescaledb_information.continuous_aggregates'), 0)
    assert.deepEqual(await jobs(db), [])
  })

  test('retention without jobs: the service drops expired chunks itself', async () => {
    const detected = await detectFeatures(db, silentLog)
    const apache = featuresFor(detected.serverVersion, detected.timescaleVersion ?? '', 'apache')
    assert.equal(selfRetention(apache, SETTINGS), true)
    assert.equal(selfRetention(apache, { ...SETTINGS, retention: 'off' }), false)
    assert.equal(selfRetention(detected, SETTINGS), false, 'the Community build has a policy for it')
    await insertRows(db, makeRows(['CNC-A'], 120, Date.now(), 12 * 3_600_000, 21))
    const old = "SELECT count(*)::int AS n FROM sensor_data WHERE time < now() - interval '31 days'"
    assert.ok(await count(db, old) > 0)
    const keep = await count(db, "SELECT count(*)::int AS n FROM sensor_data WHERE time >= now() - interval '30 days'")
    assert.ok(await dropExpiredChunks(db, '30 days') > 0)
    assert.equal(await count(db, old), 0)
    assert.equal(await count(db, "SELECT count(*)::int AS n FROM sensor_data WHERE time >= now() - interval '30 days'"), keep)
    assert.equal(await dropExpiredChunks(db, '30 days'), 0)
  })
})

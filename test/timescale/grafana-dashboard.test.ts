/**
 * The bundled Grafana dashboard on both database paths (issue 15): every SQL panel query and template
 * variable, with Grafana's macros substituted, runs on plain PostgreSQL (the shared server, a private
 * database: sensor_data_1m is the plain view from sql/no-cagg/) and on TimescaleDB (PGlite: the
 * continuous aggregate, part materialized, part real time), and both answer the same for the same rows.
 * On plain PostgreSQL the fleet-wide filters can use the BRIN indexes (sql/postgres/, sql/no-cagg/).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { detectFeatures } from '../../src/write/db-features.js'
import { ensureDatabase } from '../../src/write/database.js'
import { migrate } from '../../src/write/migrate.js'
import { applyTimescaleSettings } from '../../src/write/timescale-setup.js'
import type { SqlClient } from '../../src/write/sql-client.js'
import { panelQueries, substitute, variableQueries } from '../helpers/grafana-sql.js'
import { createTestEnv, silentLog, type TestEnv } from '../helpers/test-env.js'
import { openTimescalePglite, type PgliteClient } from './pglite-client.js'
import { insertRows, makeRows } from './readings-fixture.js'

const MACHINES = ['CNC-001', 'CNC-002', 'CNC-003']
const NOW = Date.now()
/** 3 machines × 900 readings ~3 s apart: the last 45 minutes, ending now. */
const ROWS = makeRows(MACHINES, 900, NOW, 3_000, 15)
const SPLIT = Math.floor((NOW - 900_000) / 60_000) * 60_000
const FROM = new Date(NOW - 3_600_000)
const TO = new Date(NOW + 60_000)
const SETTINGS = { chunk_interval: '1 hour', compress_after: '7 days', retention: 'off', cagg_refresh_every: '1 minute', cagg_refresh_lag: '10 minutes', cagg_refresh_window: '1 day' }

type Cell = string | number | null
/** Values as comparable text/numbers: timestamps to ISO, bigint/numeric (text in pg) to numbers. */
function normalize (rows: ReadonlyArray<Record<string, unknown>>): Cell[][] {
  const cell = (v: unknown): Cell => {
    if (v instanceof Date) return v.toISOString()
    if (typeof v === 'bigint') return Number(v)
    if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v)
    if (typeof v === 'number' || typeof v === 'string' || v === null) return v
    return JSON.stringify(v)
  }
  // Panels order by time only: rows of one bucket come in any order.
  return rows.map((r) => Object.values(r).map(cell)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
}

function assertSame (a: Cell[][], b: Cell[][], what: string): void {
  assert.equal(a.length, b.length, `${what}: row count`)
  a.forEach((row, r) => row.forEach((x, c) => {
    const y = b[r]?.[c]
    if (typeof x === 'number' && typeof y === 'number') {
      assert.ok(Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y)), `${what}: row ${r} col ${c}: ${x} vs ${y}`)
    } else {
      assert.equal(x, y, `${what}: row ${r} col ${c}`)
    }
  }))
}

describe('the Grafana dashboard on plain PostgreSQL and TimescaleDB', () => {
  let ts: PgliteClient
  let env: TestEnv
  let plain: pg.Pool
  const run = async (db: SqlClient, sql: string): Promise<Cell[][]> => normalize((await db.query(sql)).rows as Array<Record<string, unknown>>)

  before(async () => {
    ts = await openTimescalePglite()
    const features = await detectFeatures(ts, silentLog)
    assert.ok(features.caggs)
    await migrate(ts, features, silentLog)
    await insertRows(ts, ROWS.filter((r) => Date.parse(r[0]) < SPLIT))
    await applyTimescaleSettings(ts, features, SETTINGS, silentLog)
    await insertRows(ts, ROWS.filter((r) => Date.parse(r[0]) >= SPLIT))

    env = await createTestEnv('GRAFANA')
    await ensureDatabase(env.databaseUrl, silentLog)
    plain = new pg.Pool({ connectionString: env.databaseUrl, max: 1 })
    const client = await plain.connect()
    try {
      const pf = await detectFeatures(client, silentLog)
      assert.equal(pf.edition, 'postgres')
      await migrate(client, pf, silentLog)
      await insertRows(client, ROWS)
      await client.query('ANALYZE sensor_data')
    } finally {
      client.release()
    }
  })
  after(async () => {
    await ts?.close()
    await plain?.end()
    await env?.cleanup()
  })

  test('the dashboard has SQL panels and a machine variable', () => {
    assert.ok(panelQueries().length >= 5)
    assert.deepEqual(variableQueries().map((v) => v.title), ['$machine'])
  })

  test('the machine variable lists the machines with data, on both', async () => {
    for (const v of variableQueries()) {
      const sql = substitute(v.sql, FROM, TO, {})
      assert.deepEqual((await run(plain, sql)).map((r) => r[0]), MACHINES, `${v.title} on plain PostgreSQL`)
      assert.deepEqual((await run(ts, sql)).map((r) => r[0]), MACHINES, `${v.title} on TimescaleDB`)
    }
  })

  for (const p of panelQueries()) {
    test(`panel "${p.title}" answers the same on both`, async () => {
      // Two machines selected: the IN list of a multi-value variable.
      const sql = substitute(p.sql, FROM, TO, { machine: MACHINES.slice(0, 2) })
      const onPlain = await run(plain, sql)
      const onTs = await run(ts, sql)
      assert.ok(onPlain.length > 0, `${p.title}: rows on plain PostgreSQL`)
      assertSame(onPlain, onTs, p.title)
    })
  }

  test('on plain PostgreSQL the fleet-wide filters can use the BRIN indexes', async () => {
    const client = await plain.connect()
    try {
      await client.query('BEGIN')
      // A few thousand rows would be scanned whole; forbid that to see which index the filter can use.
      await client.query('SET LOCAL enable_seqscan = off')
      const plan = async (sql: string): Promise<string> => (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`)).rows.map((r) => r['QUERY PLAN']).join('\n')
      for (const p of panelQueries().filter((q) => q.sql.includes('sensor_data_1m'))) {
        assert.match(await plan(substitute(p.sql, FROM, TO, { machine: MACHINES })), /sensor_data_bucket_1m_brin/, p.title)
      }
      assert.match(await plan(`SELECT count(*) FROM sensor_data WHERE time BETWEEN '${FROM.toISOString()}' AND '${TO.toISOString()}'`), /sensor_data_time_brin/)
    } finally {
      await client.query('ROLLBACK')
      client.release()
    }
  })
})

describe('a database moving from plain PostgreSQL to the Community licence', () => {
  test('the plain sensor_data_1m view is replaced by the continuous aggregate', async () => {
    const db = await openTimescalePglite()
    try {
      const features = await detectFeatures(db, silentLog)
      assert.ok(features.caggs)
      // What a plain-PostgreSQL start left behind: the core tables and the plain view, recorded.
      await migrate(db, { ...features, mode: 'postgres', edition: 'postgres', hypertable: false, compression: false, caggs: false }, silentLog)
      assert.equal((await db.query("SELECT count(*)::int AS n FROM pg_views WHERE viewname = 'sensor_data_1m'")).rows[0]?.n, 1)
      await migrate(db, features, silentLog)
      const cagg = await db.query("SELECT view_name FROM timescaledb_information.continuous_aggregates WHERE view_name = 'sensor_data_1m'")
      assert.equal(cagg.rows.length, 1, 'the continuous aggregate exists')
    } finally {
      await db.close()
    }
  })
})

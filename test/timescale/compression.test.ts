/**
 * Bytes per reading on disk, raw and compressed, on the TimescaleDB path (PGlite + TimescaleDB, the
 * project's own migrations: segment by machine_id, order by time DESC). The capacity section of the
 * README quotes the figure of `COMPRESSION_ROWS=1000000`; CI runs 50,000 rows and checks only that
 * compression pays.
 *
 * The readings are generated in SQL (generate_series) like a 10 Hz plant, not uniform noise (which no
 * codec compresses): timestamps 100 ms apart with up to 2 ms of jitter (microsecond precision), slowly
 * drifting temperature and load with sensor noise at the published precision, axes on smooth tool
 * paths, spindle speed and feed rate constant for minutes, the state and program line changing
 * every few seconds to minutes. Real fleets differ; the README says so with the figure.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { detectFeatures } from '../../src/write/db-features.js'
import { migrate } from '../../src/write/migrate.js'
import { silentLog } from '../helpers/test-env.js'
import { openTimescalePglite, type PgliteClient } from './pglite-client.js'

const ROWS = Number(process.env.COMPRESSION_ROWS ?? 50_000)
const MACHINES = 10
const PER_MACHINE = Math.ceil(ROWS / MACHINES)

const GENERATE = `INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, x_pos_mm, y_pos_mm, z_pos_mm,
  feed_rate_actual, spindle_load_percent, machine_state, active_program_line, total_power_kw)
SELECT timestamptz '2025-07-13 00:00:00+00' + make_interval(secs => (i::bigint * 100000 + ((i * 7919 + m * 104729) % 2000)) / 1e6),
  'CNC-' || lpad(m::text, 3, '0'),
  round((40 + 8 * sin(i / 30000.0 + m) + (random() - 0.5) * 0.2)::numeric, 2)::float8,
  (1000 + 500 * ((i / 6000 + m) % 20))::float8,
  round((150 * sin(i / 200.0))::numeric, 3)::float8,
  round((80 * cos(i / 260.0))::numeric, 3)::float8,
  round((-5 - 5 * sin(i / 900.0))::numeric, 3)::float8,
  (400 + 100 * ((i / 3000) % 4))::float8,
  round((35 + 20 * sin(i / 500.0) + (random() - 0.5))::numeric, 1)::float8,
  CASE WHEN (i / 18000 + m) % 6 = 5 THEN 'IDLE' ELSE 'RUNNING' END,
  (i / 20) % 5000,
  round((6 + 3 * sin(i / 700.0) + (random() - 0.5) * 0.1)::numeric, 2)::float8
FROM generate_series(1, ${MACHINES}) AS m, generate_series(0, $1::int - 1) AS i`

describe(`bytes per reading on TimescaleDB (PGlite), ${MACHINES * PER_MACHINE} readings`, () => {
  let db: PgliteClient
  before(async () => {
    db = await openTimescalePglite()
    await migrate(db, await detectFeatures(db, silentLog), silentLog)
  })
  after(async () => { await db?.close() })

  test('compressed chunks take a fraction of the raw bytes', async (t) => {
    for (let from = 0; from < PER_MACHINE; from += 50_000) {
      await db.query(GENERATE.replace('generate_series(0, $1::int - 1)', `generate_series(${from}, $1::int - 1)`), [Math.min(PER_MACHINE, from + 50_000)])
    }
    const n = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM sensor_data')).rows[0]?.n)
    assert.equal(n, MACHINES * PER_MACHINE)
    await db.query('VACUUM ANALYZE sensor_data')
    const raw = Number((await db.query<{ b: string }>("SELECT hypertable_size('sensor_data') AS b")).rows[0]?.b)
    await db.query("SELECT compress_chunk(c) FROM show_chunks('sensor_data') AS c")
    const stats = (await db.query<{ before: string, after: string }>(
      "SELECT sum(before_compression_total_bytes) AS before, sum(after_compression_total_bytes) AS after FROM chunk_compression_stats('sensor_data')")).rows[0]
    const compressed = Number((await db.query<{ b: string }>("SELECT hypertable_size('sensor_data') AS b")).rows[0]?.b)
    const perRaw = raw / n
    const perCompressed = compressed / n
    t.diagnostic(`${n} readings: raw ${(raw / 1e6).toFixed(1)} MB (${perRaw.toFixed(1)} B/reading, table + indexes); ` +
      `compressed ${(compressed / 1e6).toFixed(2)} MB (${perCompressed.toFixed(1)} B/reading); ratio ${(raw / compressed).toFixed(1)}:1; ` +
      `chunk_compression_stats before ${stats?.before} B, after ${stats?.after} B`)
    assert.ok(compressed < raw / 3, `compression pays: ${raw} → ${compressed} bytes`)
  })
})

/**
 * GET /api/v1/fleet/latest's statement (loose index scan + LATERAL) against the obvious
 * alternatives, on plain PostgreSQL with sensor_data as migrated (index (machine_id, time DESC)).
 *
 *   flock /tmp/cnc-bench.lock npx tsx bench/fleet-latest.ts      FLEET_ROWS=1000000 FLEET_MACHINES=200
 *
 * Prints the median of 7 runs per statement (after one warm-up) and checks they agree.
 */
import pg from 'pg'
import { fleetLatest } from '../src/store/fleet.js'
import { adminQuery, dbUrl, uniqueName } from './lib/env.js'

const ROWS = Number(process.env.FLEET_ROWS ?? 1_000_000)
const MACHINES = Number(process.env.FLEET_MACHINES ?? 200)
const RUNS = 7

const ALTERNATIVES: Record<string, string> = {
  'DISTINCT ON (machine_id)': 'SELECT DISTINCT ON (machine_id) machine_id, time, temperature FROM sensor_data ORDER BY machine_id, time DESC',
  'GROUP BY max(time) + join': `SELECT s.machine_id, s.time, s.temperature FROM sensor_data s
    JOIN (SELECT machine_id, max(time) AS t FROM sensor_data GROUP BY machine_id) m ON m.machine_id = s.machine_id AND m.t = s.time`,
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

async function time (fn: () => Promise<number>): Promise<{ ms: number, rows: number }> {
  await fn()
  const ms: number[] = []
  let rows = 0
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    rows = await fn()
    ms.push(performance.now() - t0)
  }
  return { ms: median(ms), rows }
}

const database = uniqueName('cnc_perf_fleet').toLowerCase()
await adminQuery(`CREATE DATABASE ${database}`)
const pool = new pg.Pool({ connectionString: dbUrl(database), max: 1 })
try {
  await pool.query(`CREATE TABLE sensor_data (time TIMESTAMPTZ NOT NULL, machine_id TEXT NOT NULL, temperature DOUBLE PRECISION NOT NULL,
    spindle_speed DOUBLE PRECISION NOT NULL, x_pos_mm DOUBLE PRECISION, y_pos_mm DOUBLE PRECISION, z_pos_mm DOUBLE PRECISION,
    feed_rate_actual DOUBLE PRECISION, spindle_load_percent DOUBLE PRECISION, machine_state TEXT, active_program_line INTEGER,
    total_power_kw DOUBLE PRECISION)`)
  const t0 = performance.now()
  await pool.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, spindle_load_percent, machine_state)
    SELECT now() - (g * interval '10 milliseconds'), 'CNC-' || lpad((g % $2)::text, 3, '0'), 20 + (g % 50), 1000 + g % 9000, g % 100,
      (ARRAY['RUNNING','IDLE','ALARM','SETUP'])[1 + g % 4]
    FROM generate_series(1, $1) g`, [ROWS, MACHINES])
  await pool.query('CREATE INDEX sensor_data_machine_time_idx ON sensor_data (machine_id, time DESC)')
  await pool.query('VACUUM ANALYZE sensor_data')
  process.stdout.write(`${ROWS} rows, ${MACHINES} machines loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s\n\n| statement | median ms | rows |\n|---|---|---|\n`)
  // One page as large as the fleet: the statement the API runs, at its worst size.
  const ours = await time(async () => (await fleetLatest(pool, '', MACHINES + 1)).length)
  process.stdout.write(`| loose index scan + LATERAL (fleet/latest) | ${ours.ms.toFixed(2)} | ${ours.rows} |\n`)
  for (const [name, sql] of Object.entries(ALTERNATIVES)) {
    const r = await time(async () => (await pool.query(sql)).rowCount ?? 0)
    process.stdout.write(`| ${name} | ${r.ms.toFixed(2)} | ${r.rows} |\n`)
    if (r.rows !== ours.rows) throw new Error(`${name}: ${r.rows} rows, fleet/latest ${ours.rows}`)
  }
} finally {
  await pool.end()
  await adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
}

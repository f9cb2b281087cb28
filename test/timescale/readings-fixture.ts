/**
 * Deterministic telemetry for the TimescaleDB tests: a few machines, irregular spacing (never two
 * readings of one machine at the same instant, so `last` has one answer), NULLs in the optional
 * columns, inserted with plain INSERTs through a SqlClient (PGlite's build crashes on COPY FROM STDIN).
 */
import type { SqlClient } from '../../src/write/sql-client.js'

export type FixtureRow = [string, string, number, number, number | null, number | null, number | null,
  number | null, number | null, string | null, number | null, number | null]

const COLUMNS = 'time, machine_id, temperature, spindle_speed, x_pos_mm, y_pos_mm, z_pos_mm, feed_rate_actual, spindle_load_percent, machine_state, active_program_line, total_power_kw'

/** Park-Miller: the same rows on every run and on both databases. */
function rng (seed: number): () => number {
  let s = seed
  return () => {
    s = (s * 48_271) % 2_147_483_647
    return s / 2_147_483_647
  }
}

/** `count` readings per machine, ending at `endMs`, ~`stepMs` apart (±40%). */
export function makeRows (machines: readonly string[], count: number, endMs: number, stepMs: number, seed = 7): FixtureRow[] {
  const rand = rng(seed)
  const rows: FixtureRow[] = []
  for (const m of machines) {
    let t = endMs
    for (let i = 0; i < count; i++) {
      t -= Math.max(1, Math.round(stepMs * (0.6 + 0.8 * rand())))
      const maybe = (v: number): number | null => (rand() < 0.15 ? null : v)
      rows.push([new Date(t).toISOString(), m, 20 + 60 * rand(), Math.round(24_000 * rand()), maybe(500 * rand() - 250),
        maybe(300 * rand()), maybe(-100 * rand()), maybe(2_000 * rand()), maybe(100 * rand()),
        rand() < 0.1 ? null : ['RUNNING', 'IDLE', 'ALARM'][Math.floor(rand() * 3)] as string,
        rand() < 0.1 ? null : Math.floor(rand() * 5_000), maybe(40 * rand())])
    }
  }
  return rows
}

export async function insertRows (db: SqlClient, rows: readonly FixtureRow[]): Promise<void> {
  const width = 12
  for (let i = 0; i < rows.length; i += 400) {
    const chunk = rows.slice(i, i + 400)
    const values = chunk.map((_, r) => '(' + Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ') + ')').join(', ')
    await db.query(`INSERT INTO sensor_data (${COLUMNS}) VALUES ${values}`, chunk.flat())
  }
}

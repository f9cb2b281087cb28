/**
 * timescale.retention on TimescaleDB's Apache build, which has drop_chunks but no background jobs:
 * the service drops whole chunks older than the retention itself, once at start and then hourly.
 * Dropping a chunk is a catalogue operation (no row scan, no vacuum debt), so every instance may
 * run it; pg_try_advisory_lock only keeps two instances from queueing on the same chunk locks.
 *
 *   timescaledb          the retention policy (timescale-setup.ts) does it: nothing here
 *   timescaledb-apache   SELECT drop_chunks('sensor_data', older_than => now() - retention)
 *   postgres             not enforced: deleting from a native table scans it (the index leads with
 *                        machine_id) and leaves vacuum work; timescale-setup.ts logs a warning
 */
import type { Logger } from 'pino'
import type { DbFeatures } from './db-features.js'
import type { SqlClient } from './sql-client.js'
import { HYPERTABLE, intervalSeconds, type TimescaleSettings } from './timescale-setup.js'

const RETENTION_LOCK = 'cnc-monitor:retention'
export const RETENTION_EVERY_MS = 3_600_000

/** True when this service, not a TimescaleDB policy, must apply the retention. */
export function selfRetention (features: DbFeatures, s: TimescaleSettings): boolean {
  return features.hypertable && !features.compression && intervalSeconds(s.retention) !== null
}

/** Drops chunks wholly older than the retention; returns how many (0 when another instance is at it). */
export async function dropExpiredChunks (client: SqlClient, retention: string): Promise<number> {
  const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [RETENTION_LOCK])
  if (got.rows[0]?.ok !== true) return 0
  try {
    const r = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM drop_chunks($1::regclass, older_than => now() - $2::interval)', [HYPERTABLE, retention])
    return r.rows[0]?.n ?? 0
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [RETENTION_LOCK])
  }
}

export interface RetentionTask { stop (): void }

/**
 * Runs dropExpiredChunks now and every RETENTION_EVERY_MS on a connection taken from `pool` for each
 * run; null when the database enforces retention itself or none is configured.
 */
export function startRetention (pool: { connect (): Promise<SqlClient & { release (): void }> }, features: DbFeatures,
  s: TimescaleSettings, log: Logger): RetentionTask | null {
  if (!selfRetention(features, s)) return null
  const run = (): void => {
    (async () => {
      const client = await pool.connect()
      try {
        const dropped = await dropExpiredChunks(client, s.retention)
        if (dropped > 0) log.info({ dropped, retention: s.retention }, 'dropped chunks past retention')
      } finally {
        client.release()
      }
    })().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'retention run failed; will retry'))
  }
  run()
  const timer = setInterval(run, RETENTION_EVERY_MS)
  timer.unref()
  log.info({ retention: s.retention, everyMs: RETENTION_EVERY_MS }, 'retention applied by the service (drop_chunks)')
  return { stop: () => clearInterval(timer) }
}

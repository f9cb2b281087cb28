/**
 * Which database we run on, detected at start-up:
 *   timescaledb  the extension is installed (or installable and now created)
 *   postgres     plain PostgreSQL: sensor_data stays a native table, buckets use date_bin
 */
import type pg from 'pg'
import type { Logger } from 'pino'

export type DbMode = 'timescaledb' | 'postgres'

export interface DbFeatures {
  readonly mode: DbMode
  readonly serverVersion: string
  readonly timescaleVersion: string | null
  /** timescaledb.license: 'timescale' (community: compression, caggs) or 'apache'. */
  readonly timescaleLicense: string | null
}

export async function detectFeatures (client: pg.ClientBase, log: Logger): Promise<DbFeatures> {
  const version = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? 'unknown'
  let ext = await client.query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
  if (ext.rowCount === 0) {
    const available = await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    if (available.rowCount !== 0) {
      try {
        await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb')
        ext = await client.query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'timescaledb is available but could not be created (is it in shared_preload_libraries?); running on plain PostgreSQL')
      }
    }
  }
  const tsVersion = ext.rows[0]?.extversion ?? null
  let license: string | null = null
  if (tsVersion !== null) {
    license = (await client.query<{ license: string }>("SELECT current_setting('timescaledb.license', true) AS license")).rows[0]?.license ?? null
  }
  return { mode: tsVersion === null ? 'postgres' : 'timescaledb', serverVersion: version, timescaleVersion: tsVersion, timescaleLicense: license }
}

/**
 * Which database we run on, detected once at start-up, and what the rest of the service may use:
 *
 *   edition              extension   timescaledb.license   sensor_data   compression   1-minute cagg
 *   timescaledb          yes         timescale             hypertable    yes           yes
 *   timescaledb-apache   yes         apache                hypertable    no            no
 *   postgres             no          -                     native table  no            no
 *
 * Compression, continuous aggregates and policies (background jobs) are in TimescaleDB's
 * Community (TSL) code; the Apache-licensed build refuses them, so they are keyed off the licence.
 * `mode` is the SQL dialect the read side writes for (time_bucket/last vs date_bin), `edition` what
 * is reported (log, /readyz, cnc_database_mode).
 */
import type { Logger } from 'pino'
import type { SqlClient } from './sql-client.js'

export type DbMode = 'timescaledb' | 'postgres'

export const DbEdition = {
  timescaledb: 'timescaledb',
  timescaledbApache: 'timescaledb-apache',
  postgres: 'postgres',
} as const
export type DbEdition = typeof DbEdition[keyof typeof DbEdition]

export interface DbFeatures {
  readonly mode: DbMode
  readonly edition: DbEdition
  readonly serverVersion: string
  readonly timescaleVersion: string | null
  /** timescaledb.license: 'timescale' (Community: compression, caggs, policies) or 'apache'. */
  readonly timescaleLicense: string | null
  /** sensor_data is a hypertable (any TimescaleDB edition). */
  readonly hypertable: boolean
  /** Native compression and its policy (Community edition). */
  readonly compression: boolean
  /** The continuous aggregate sensor_data_1m and its refresh policy (Community edition). */
  readonly caggs: boolean
}

const EXT_VERSION = "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"

export async function detectFeatures (client: SqlClient, log: Logger): Promise<DbFeatures> {
  const version = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? 'unknown'
  let ext = await client.query<{ extversion: string }>(EXT_VERSION)
  if (ext.rows.length === 0) {
    const available = await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    if (available.rows.length !== 0) {
      try {
        await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb')
        ext = await client.query<{ extversion: string }>(EXT_VERSION)
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'timescaledb is available but could not be created (is it in shared_preload_libraries?); running on plain PostgreSQL')
      }
    }
  }
  const tsVersion = ext.rows[0]?.extversion ?? null
  if (tsVersion === null) {
    return { mode: 'postgres', edition: DbEdition.postgres, serverVersion: version, timescaleVersion: null, timescaleLicense: null, hypertable: false, compression: false, caggs: false }
  }
  const license = (await client.query<{ license: string | null }>("SELECT current_setting('timescaledb.license', true) AS license")).rows[0]?.license ?? null
  return featuresFor(version, tsVersion, license)
}

/** The feature set of a TimescaleDB server with the given licence (exported for tests of the Apache path). */
export function featuresFor (serverVersion: string, timescaleVersion: string, license: string | null): DbFeatures {
  // An unknown or missing licence is treated as the restrictive one: the Apache build refuses TSL calls.
  const community = license === 'timescale'
  return {
    mode: 'timescaledb',
    edition: community ? DbEdition.timescaledb : DbEdition.timescaledbApache,
    serverVersion,
    timescaleVersion,
    timescaleLicense: license,
    hypertable: true,
    compression: community,
    caggs: community,
  }
}

/**
 * TimescaleDB settings whose values are configuration (config section `timescale`), applied after
 * the migrations at every start, idempotently: each is read back from the catalogue and changed only
 * when it differs, so restarts and several instances starting together leave one policy of each kind.
 *
 *   hypertable (any licence)   chunk interval of new chunks          set_chunk_time_interval
 *   Community licence only     compression policy                    add/remove_compression_policy
 *                              retention policy                      add/remove_retention_policy
 *                              sensor_data_1m refresh policy         add/remove_continuous_aggregate_policy
 *                              first full refresh of sensor_data_1m  refresh_continuous_aggregate, once
 *
 * Policies are background jobs, which the Apache build does not have: there the service drops expired
 * chunks itself (retention.ts); on plain PostgreSQL `retention` is reported as not enforced.
 */
import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import type { DbFeatures } from './db-features.js'
import { MIGRATION_LOCK } from './migrate.js'
import type { SqlClient } from './sql-client.js'

export type TimescaleSettings = Config['timescale']

export const HYPERTABLE = 'sensor_data'
export const CAGG = 'sensor_data_1m'
/** Recorded in schema_migrations once the continuous aggregate holds all history (see firstRefresh). */
const CAGG_FILLED = 'timescale/community/002_sensor_data_1m:filled'

const UNIT_SECONDS: Record<string, number> = { second: 1, minute: 60, hour: 3_600, day: 86_400, week: 604_800 }

/** Seconds in a config interval ('12 hours'); null for 'off' or ''. Throws on anything else. */
export function intervalSeconds (text: string): number | null {
  if (text === '' || text === 'off') return null
  const m = /^([1-9][0-9]{0,5}) (second|minute|hour|day|week)s?$/.exec(text)
  if (m === null) throw new Error(`not an interval: '${text}'`)
  return Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number)
}

/** Rules between the keys; returns the first broken one as "<key>: <reason>", or null. */
export function checkTimescaleSettings (s: TimescaleSettings): string | null {
  const window = intervalSeconds(s.cagg_refresh_window) as number
  const lag = intervalSeconds(s.cagg_refresh_lag) as number
  const retention = intervalSeconds(s.retention)
  // TimescaleDB refuses a refresh window covering fewer than two buckets.
  if (window < lag + 120) return 'timescale.cagg_refresh_window: must exceed timescale.cagg_refresh_lag by at least 2 minutes'
  // Refreshing a span whose raw chunks were dropped would empty those buckets of the aggregate too.
  if (retention !== null && retention <= window) return 'timescale.retention: must be longer than timescale.cagg_refresh_window'
  return null
}

export interface TimescaleState {
  readonly chunkInterval: string | null
  readonly compressAfter: string | null
  readonly retention: string | null
  readonly caggRefresh: { readonly every: string, readonly lag: string, readonly window: string } | null
  /** What this call changed, e.g. ['chunk_interval', 'compression_policy']. */
  readonly changed: readonly string[]
}

export async function applyTimescaleSettings (client: SqlClient, features: DbFeatures, s: TimescaleSettings, log: Logger): Promise<TimescaleState> {
  const broken = checkTimescaleSettings(s)
  if (broken !== null) throw new Error(`config: ${broken}`)
  const retention = intervalSeconds(s.retention) === null ? null : s.retention
  if (!features.hypertable) {
    if (retention !== null) log.warn({ retention }, 'timescale.retention is not enforced on plain PostgreSQL')
    return { chunkInterval: null, compressAfter: null, retention: null, caggRefresh: null, changed: [] }
  }
  const changed: string[] = []
  await client.query('SELECT pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK])
  try {
    const dim = await client.query<{ same: boolean }>(`SELECT time_interval = $1::interval AS same
      FROM timescaledb_information.dimensions
      WHERE hypertable_schema = current_schema() AND hypertable_name = $2 AND column_name = 'time'`, [s.chunk_interval, HYPERTABLE])
    if (dim.rows[0]?.same !== true) {
      await client.query('SELECT set_chunk_time_interval($1::regclass, $2::interval)', [HYPERTABLE, s.chunk_interval])
      changed.push('chunk_interval')
    }
    if (!features.compression || !features.caggs) {
      // No jobs on this build: retention.ts drops expired chunks from the service instead.
      return { chunkInterval: s.chunk_interval, compressAfter: null, retention: null, caggRefresh: null, changed }
    }
    const compressAfter = intervalSeconds(s.compress_after) === null ? null : s.compress_after
    if (await syncPolicy(client, 'policy_compression', HYPERTABLE, { compress_after: compressAfter },
      'remove_compression_policy', 'add_compression_policy($1::regclass, compress_after => $2::interval)', [compressAfter])) changed.push('compression_policy')
    if (await syncPolicy(client, 'policy_retention', HYPERTABLE, { drop_after: retention },
      'remove_retention_policy', 'add_retention_policy($1::regclass, drop_after => $2::interval)', [retention])) changed.push('retention_policy')
    const refresh = { start_offset: s.cagg_refresh_window, end_offset: s.cagg_refresh_lag }
    if (await syncPolicy(client, 'policy_refresh_continuous_aggregate', CAGG, refresh, 'remove_continuous_aggregate_policy',
      'add_continuous_aggregate_policy($1::regclass, start_offset => $2::interval, end_offset => $3::interval, schedule_interval => $4::interval)',
      [s.cagg_refresh_window, s.cagg_refresh_lag, s.cagg_refresh_every], s.cagg_refresh_every)) changed.push('cagg_refresh_policy')
    if (await firstRefresh(client, s.cagg_refresh_lag, log)) changed.push('cagg_filled')
    return {
      chunkInterval: s.chunk_interval,
      compressAfter,
      retention,
      caggRefresh: { every: s.cagg_refresh_every, lag: s.cagg_refresh_lag, window: s.cagg_refresh_window },
      changed,
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [MIGRATION_LOCK])
  }
}

/**
 * Makes the policy `proc` on `relation` match `want` (config keys → interval text; all null = no
 * policy) and, when given, its schedule interval. Returns true when it changed anything.
 */
async function syncPolicy (client: SqlClient, proc: string, relation: string, want: Record<string, string | null>,
  remove: string, add: string, addParams: Array<string | null>, every?: string): Promise<boolean> {
  const keys = Object.keys(want)
  const enabled = Object.values(want).every((v) => v !== null)
  // Compare as intervals in SQL ('1 day' = '24 hours'); the job's config stores them as text. A cagg's
  // jobs name the view (2.23) or its materialization hypertable (older releases): either matches.
  const compare = keys.map((k, i) => `(config->>'${k}')::interval = $${i + 3}::interval`).join(' AND ')
  const everyCmp = every === undefined ? 'true' : `schedule_interval = $${keys.length + 3}::interval`
  const params: unknown[] = [proc, relation, ...keys.map((k) => want[k] ?? '0'), ...(every === undefined ? [] : [every])]
  const jobs = await client.query<{ job_id: number, same: boolean }>(`SELECT job_id, (${compare}) AND ${everyCmp} AS same
    FROM timescaledb_information.jobs
    WHERE proc_name = $1 AND (hypertable_name = $2 OR hypertable_name = (SELECT materialization_hypertable_name
      FROM timescaledb_information.continuous_aggregates WHERE view_schema = current_schema() AND view_name = $2))`, params)
  const current = jobs.rows[0]
  if (enabled && current?.same === true && jobs.rows.length === 1) return false
  if (!enabled && current === undefined) return false
  await client.query(`SELECT ${remove}($1::regclass, if_exists => true)`, [relation])
  if (enabled) await client.query(`SELECT ${add}`, [relation, ...addParams])
  return true
}

/**
 * sensor_data_1m is created WITH NO DATA, and the refresh policy only ever looks back
 * cagg_refresh_window: history older than that (rows from before the aggregate existed) would never
 * be materialized, and would drop out of real-time results once the watermark passed it. So the first
 * start after creation refreshes everything up to the lag, once, and records it.
 * refresh_continuous_aggregate cannot run inside a transaction block: it runs on its own here.
 */
async function firstRefresh (client: SqlClient, lag: string, log: Logger): Promise<boolean> {
  const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [CAGG_FILLED])
  if (done.rows.length !== 0) return false
  const started = Date.now()
  await client.query('CALL refresh_continuous_aggregate($1::regclass, NULL::timestamptz, now() - $2::interval)', [CAGG, lag])
  await client.query('INSERT INTO schema_migrations (version) VALUES ($1) ON CONFLICT (version) DO NOTHING', [CAGG_FILLED])
  log.info({ ms: Date.now() - started }, `filled ${CAGG} with all history`)
  return true
}

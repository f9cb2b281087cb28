/**
 * Applies, in this order and each in name order, once:
 *   sql/*.sql                        every mode
 *   sql/timescale/*.sql              any TimescaleDB edition (hypertable)
 *   sql/timescale/community/*.sql    Community licence only (compression settings, continuous aggregate)
 *   sql/postgres/*.sql               plain PostgreSQL only (no hypertable)
 *   sql/no-cagg/*.sql                no continuous aggregate (plain PostgreSQL, Apache licence)
 * Each file runs in its own transaction together with the INSERT recording its version in
 * schema_migrations, so a file is either applied and recorded or neither. Files are also written to
 * be re-runnable (IF NOT EXISTS), so a hand-applied or half-recorded schema does not wedge start-up.
 *
 * Several instances may start at once while others are writing:
 *  - a session advisory lock makes migrators take turns (the second finds the versions recorded);
 *  - DDL on sensor_data needs an ACCESS EXCLUSIVE lock, and while it waits every writer's COPY queues
 *    behind it. lock_timeout bounds that stall; on a timeout the migration rolls back and retries.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import type { DbFeatures } from './db-features.js'
import type { SqlClient } from './sql-client.js'
import { sqlstateOf } from '../db/sqlstate.js'

export const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url))
/** Session advisory lock key shared by migrations and timescale-setup.ts. */
export const MIGRATION_LOCK = 'cnc-monitor:migrations'
const LOCK_NOT_AVAILABLE = '55P03'

export interface MigrateOptions {
  /** Longest a migration waits for a table lock before it backs off (writers queue behind it meanwhile). */
  readonly lockTimeoutMs?: number
  /** Attempts per migration when the lock times out. */
  readonly attempts?: number
}

interface Migration { readonly version: string, readonly file: string }

export function listMigrations (features: DbFeatures): Migration[] {
  const pick = (dir: string, prefix: string): Migration[] =>
    readdirSync(dir).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort()
      .map((f) => ({ version: prefix + f.replace(/\.sql$/, ''), file: dir + f }))
  const all = pick(SQL_DIR, '')
  if (features.hypertable) all.push(...pick(SQL_DIR + 'timescale/', 'timescale/'))
  if (features.compression && features.caggs) all.push(...pick(SQL_DIR + 'timescale/community/', 'timescale/community/'))
  // Issue 15: plain PostgreSQL's time index; sensor_data_1m as a plain view where there is no continuous aggregate.
  if (!features.caggs) all.push(...pick(SQL_DIR + 'no-cagg/', 'no-cagg/'))
  if (!features.hypertable) all.push(...pick(SQL_DIR + 'postgres/', 'postgres/'))
  return all
}

export async function migrate (client: SqlClient, features: DbFeatures, log: Logger, opts: MigrateOptions = {}): Promise<string[]> {
  const lockTimeoutMs = opts.lockTimeoutMs ?? 5_000
  const attempts = opts.attempts ?? 5
  await client.query('SELECT pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK])
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW())`)
    const done = new Set((await client.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version))
    const applied: string[] = []
    for (const m of listMigrations(features)) {
      if (done.has(m.version)) continue
      const sql = readFileSync(m.file, 'utf8')
      for (let attempt = 1; ; attempt++) {
        try {
          await applyOne(client, m.version, sql, lockTimeoutMs)
          break
        } catch (err) {
          if (sqlstateOf(err) === LOCK_NOT_AVAILABLE && attempt < attempts) {
            log.warn({ version: m.version, attempt }, 'migration waited too long for a table lock; retrying')
            await sleep(250 * attempt)
            continue
          }
          throw new Error(`migration ${m.version} failed: ${(err as Error).message}`, { cause: err })
        }
      }
      applied.push(m.version)
      log.info({ version: m.version }, 'applied migration')
    }
    return applied
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [MIGRATION_LOCK])
  }
}

async function applyOne (client: SqlClient, version: string, sql: string, lockTimeoutMs: number): Promise<void> {
  await client.query('BEGIN')
  try {
    await client.query(`SET LOCAL lock_timeout = ${Math.trunc(lockTimeoutMs)}`)
    await client.query(sql)
    await client.query('INSERT INTO schema_migrations (version) VALUES ($1) ON CONFLICT (version) DO NOTHING', [version])
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  }
}

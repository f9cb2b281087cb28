/**
 * Applies sql/*.sql (every mode) and sql/timescale/*.sql (TimescaleDB only) in name order, each once,
 * each in its own transaction, recording the version in schema_migrations. A session advisory lock
 * makes concurrent starts of several instances take turns instead of racing.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type pg from 'pg'
import type { Logger } from 'pino'
import type { DbFeatures } from './db-features.js'

export const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url))
const MIGRATION_LOCK = 'cnc-monitor:migrations'

interface Migration { readonly version: string, readonly file: string }

function listMigrations (features: DbFeatures): Migration[] {
  const pick = (dir: string, prefix: string): Migration[] =>
    readdirSync(dir).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort()
      .map((f) => ({ version: prefix + f.replace(/\.sql$/, ''), file: dir + f }))
  const all = pick(SQL_DIR, '')
  if (features.mode === 'timescaledb') all.push(...pick(SQL_DIR + 'timescale/', 'timescale/'))
  return all
}

export async function migrate (client: pg.ClientBase, features: DbFeatures, log: Logger): Promise<string[]> {
  await client.query('SELECT pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK])
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW())`)
    const done = new Set((await client.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version))
    const applied: string[] = []
    for (const m of listMigrations(features)) {
      if (done.has(m.version)) continue
      await client.query('BEGIN')
      try {
        await client.query(readFileSync(m.file, 'utf8'))
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [m.version])
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK')
        throw new Error(`migration ${m.version} failed: ${(err as Error).message}`, { cause: err })
      }
      applied.push(m.version)
      log.info({ version: m.version }, 'applied migration')
    }
    return applied
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [MIGRATION_LOCK])
  }
}

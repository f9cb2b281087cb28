/**
 * Migrations while other instances start and write (plain PostgreSQL on the shared server, a private
 * database): concurrent migrators take turns on the advisory lock and apply each file once; the files
 * re-run cleanly on an existing schema; a migration that cannot get a table lock within lock_timeout
 * backs off and retries instead of stalling writers queued behind it.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { pino } from 'pino'
import { ensureDatabase } from '../../src/write/database.js'
import { detectFeatures, type DbFeatures } from '../../src/write/db-features.js'
import { listMigrations, migrate } from '../../src/write/migrate.js'
import { createTestEnv, silentLog, type TestEnv } from '../helpers/test-env.js'

describe('migrations under concurrency (plain PostgreSQL)', () => {
  let env: TestEnv
  let pool: pg.Pool
  let features: DbFeatures

  before(async () => {
    env = await createTestEnv('TSM')
    await ensureDatabase(env.databaseUrl, silentLog)
    pool = new pg.Pool({ connectionString: env.databaseUrl, max: 6 })
    features = await detectFeatures(pool, silentLog)
    assert.equal(features.edition, 'postgres')
  })
  after(async () => {
    await pool?.end()
    await env?.cleanup()
  })

  test('two instances migrating at once while a third writes: each file applied once, no write fails', async () => {
    const [a, b] = [await pool.connect(), await pool.connect()]
    try {
      const results = await Promise.all([migrate(a, features, silentLog), migrate(b, features, silentLog)])
      const all = listMigrations(features).map((m) => m.version)
      assert.deepEqual([...results[0], ...results[1]].sort(), all)
      // Forget every version: the files run again on the existing schema (idempotent SQL), under
      // the same race, while rows keep arriving.
      const run = { writing: true }
      let written = 0
      const writer = (async () => {
        while (run.writing) {
          await pool.query("INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed) VALUES (now(), 'W', 1, 2)")
          written++
        }
      })()
      await pool.query('DELETE FROM schema_migrations')
      const again = await Promise.all([migrate(a, features, silentLog), migrate(b, features, silentLog)])
      run.writing = false
      await writer
      assert.deepEqual([...again[0], ...again[1]].sort(), all)
      assert.ok(written > 0)
      const rows = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM sensor_data WHERE machine_id = 'W'")
      assert.equal(rows.rows[0]?.n, written)
      const versions = await pool.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version')
      assert.deepEqual(versions.rows.map((r) => r.version), [...all].sort())
    } finally {
      a.release()
      b.release()
    }
  })

  test('a migration blocked on a table lock backs off and retries', async () => {
    const holder = await pool.connect()
    const migrator = await pool.connect()
    const warnings: string[] = []
    // The lock is released on the first back-off line, not after a fixed time: on a busy machine a timer
    // could fire before the migration even tried (issue 15).
    const log = pino({ level: 'warn' }, new Writable({
      write (chunk, _enc, done) {
        warnings.push(String(chunk))
        if (String(chunk).includes('retrying')) holder.query('COMMIT').catch(() => {})
        done()
      },
    }))
    try {
      await holder.query('BEGIN')
      await holder.query('LOCK TABLE sensor_data IN ACCESS EXCLUSIVE MODE')
      await pool.query("DELETE FROM schema_migrations WHERE version = '001_core_tables'")
      const applied = await migrate(migrator, features, log, { lockTimeoutMs: 150, attempts: 20 })
      assert.deepEqual(applied, ['001_core_tables'])
      assert.ok(warnings.some((w) => w.includes('retrying')), 'backed off at least once')
    } finally {
      await holder.query('ROLLBACK').catch(() => {})
      holder.release()
      migrator.release()
    }
  })
})

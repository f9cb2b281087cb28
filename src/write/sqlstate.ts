/**
 * How the writer treats a PostgreSQL error, decided by SQLSTATE class, never by message text.
 *
 *   22 data exception, 23 integrity constraint   → 'row': one row is bad; isolate it, dead-letter it
 *   everything else (08 connection, 40 rollback, 53 resources, 57 operator intervention, 58 system,
 *   42 schema missing, no SQLSTATE at all = socket error) → 'transient': nak the batch, retry later
 *
 * Treating unknown classes as transient errs towards retrying: a message is never dead-lettered
 * because the database was misconfigured or away.
 */
export type PgErrorClass = 'row' | 'transient'

const ROW_CLASSES = new Set(['22', '23'])

export function sqlstateOf (err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
  }
  return undefined
}

export function classifyPgError (err: unknown): PgErrorClass {
  const state = sqlstateOf(err)
  return state !== undefined && ROW_CLASSES.has(state.slice(0, 2)) ? 'row' : 'transient'
}

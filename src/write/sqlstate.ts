/**
 * How the writer treats a failed write, decided by SQLSTATE class, never by message text.
 *
 *   22 data exception, 23 integrity constraint   → 'row': one row is bad; isolate it, dead-letter it
 *   08 connection, 57 operator intervention (admin shutdown, statement cancelled), 40 rollback
 *   (deadlock, serialization), 53100 disk full, 53300 too many connections, 55P03 lock timeout,
 *   25P03 idle-in-transaction timeout, 58 system I/O            → 'away': the database refuses
 *   everything for now; hold the batch and retry it, never blame its rows
 *   anything else (53200 out of memory, XX000, 42 schema, no SQLSTATE at all: a socket error or a
 *   JS RangeError)                                               → 'unknown': a probe write decides.
 *   If the probe is refused too, the database is away; if it succeeds while the batch keeps failing
 *   the same way, the rows are the cause and the batch is bisected (write/isolate.ts).
 *
 * Erring towards 'away' never loses a message (it waits); erring towards 'row' would dead-letter
 * valid readings, so only the two data classes are trusted without a probe.
 */
import { sqlstateOf } from '../db/sqlstate.js'

export type PgErrorClass = 'row' | 'away' | 'unknown'

const ROW_CLASSES = new Set(['22', '23'])
const AWAY_CLASSES = new Set(['08', '40', '57', '58'])
const AWAY_STATES = new Set(['53100', '53300', '55P03', '25P03'])

export function classifyPgError (err: unknown): PgErrorClass {
  const state = sqlstateOf(err)
  if (state === undefined) return 'unknown'
  const cls = state.slice(0, 2)
  if (ROW_CLASSES.has(cls)) return 'row'
  if (AWAY_CLASSES.has(cls) || AWAY_STATES.has(state)) return 'away'
  return 'unknown'
}

/**
 * What "fails the same way" compares: the SQLSTATE, else the error's class name (RangeError,
 * Error) plus a Node system code (ECONNRESET) when there is one.
 */
export function failureSignature (err: unknown): string {
  const state = sqlstateOf(err)
  if (state !== undefined) return `SQLSTATE ${state}`
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' ? `${err.name} ${code}` : err.name
  }
  return typeof err
}

/**
 * The one rule for a machine id, used by ingest (the reading schema), the API (path and query
 * parameters, cursors, the machine registry), the live feed and the configuration.
 *
 *   any machine id     1–128 UTF-16 code units (the reading schema is compiled with ajv unicode:
 *                      false, so JSON-schema lengths count the same units as String.length)
 *   a query for one    also no NUL: PostgreSQL text cannot hold it, so no stored id has one (a
 *                      reading with a NUL is dead-lettered unstorable_value) and the query would fail
 *   a registered one   (POST /api/v1/machines) letters, digits, '.', '_' and '-' only: a subset
 */
export const MACHINE_ID_MAX_LENGTH = 128

/** JSON-schema fragment of a machine id in a message or a parameter. */
export const MACHINE_ID_SCHEMA = { type: 'string', minLength: 1, maxLength: MACHINE_ID_MAX_LENGTH } as const

/** Pattern of a registered machine's id (the machine registry, its OpenAPI schema). */
export const MACHINE_ID_PATTERN = `^[A-Za-z0-9._-]{1,${MACHINE_ID_MAX_LENGTH}}$`

/** For messages naming the rule. */
export const MACHINE_ID_RULE = `1–${MACHINE_ID_MAX_LENGTH} characters without NUL`

/** A machine id one can look up: 1–128 UTF-16 units, no NUL. */
export function isMachineId (v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MACHINE_ID_MAX_LENGTH && !v.includes('\u0000')
}

/**
 * PostgreSQL connections: the database named in database.url is created when it does not exist
 * (a fresh machine, a test run's private database), and pools are made with an application name
 * so each one shows up separately in pg_stat_activity.
 */
import pg from 'pg'
import type { Logger } from 'pino'
import { sqlstateOf } from '../db/sqlstate.js'
import { READING_FIELDS, type FieldSpec } from '../reading-fields.js'

const INVALID_CATALOG_NAME = '3D000'
const DUPLICATE_DATABASE = '42P04'

export function quoteIdent (name: string): string {
  return '"' + name.replaceAll('"', '""') + '"'
}

/** Connects once; when the database is missing, creates it through the `postgres` maintenance database. */
export async function ensureDatabase (url: string, log: Logger): Promise<void> {
  const probe = new pg.Client({ connectionString: url })
  try {
    await probe.connect()
    return
  } catch (err) {
    if (sqlstateOf(err) !== INVALID_CATALOG_NAME) throw err
  } finally {
    await probe.end().catch(() => {})
  }
  const target = new URL(url)
  const name = decodeURIComponent(target.pathname.slice(1))
  target.pathname = '/postgres'
  const admin = new pg.Client({ connectionString: target.toString() })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`)
    log.info({ database: name }, 'created database')
  } catch (err) {
    if (sqlstateOf(err) !== DUPLICATE_DATABASE) throw err
  } finally {
    await admin.end()
  }
}

export interface PoolOptions {
  readonly max: number
  readonly applicationName: string
  readonly statementTimeoutMs?: number
  /** Ingest sessions: a lock wait (the ledger lock, a table lock) fails after this long (55P03). */
  readonly lockTimeoutMs?: number
  /**
   * Ingest sessions: PostgreSQL ends a session idle inside a transaction this long (25P03), so an
   * instance frozen mid-transaction (SIGSTOP, a VM pause) releases its locks for the others.
   */
  readonly idleInTransactionTimeoutMs?: number
}

export function createPool (url: string, opts: PoolOptions, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max,
    application_name: opts.applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    ...(opts.statementTimeoutMs === undefined ? {} : { statement_timeout: opts.statementTimeoutMs }),
    ...(opts.lockTimeoutMs === undefined ? {} : { lock_timeout: opts.lockTimeoutMs }),
    ...(opts.idleInTransactionTimeoutMs === undefined ? {} : { idle_in_transaction_session_timeout: opts.idleInTransactionTimeoutMs }),
  })
  // A connection whose server went away emits 'error' (on the pool while idle, on the client while
  // checked out); without listeners the process would crash. The failing query reports it as well.
  pool.on('error', (err) => log.warn({ err: err.message, code: sqlstateOf(err) }, 'idle database connection lost'))
  pool.on('connect', (client) => {
    client.on('error', (err) => log.warn({ err: err.message, code: sqlstateOf(err) }, 'database connection lost'))
  })
  return pool
}

/** One `SELECT 1` on a new connection, failing within 5 s whatever the server or the network does. */
export async function probeDatabase (url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, query_timeout: 5_000, application_name: 'cnc-monitor-probe' })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * Is the database taking writes? One row inserted into sensor_data in a transaction that is rolled
 * back, on a new connection, failing within 5 s. `SELECT 1` is no answer: a full disk (53100), a
 * read-only or locked table still answer it. Triggers and constraints run on the probe row as on
 * real ones, so a database refusing every insert refuses this one too; a batch that fails while this
 * succeeds points at its own rows.
 */
export async function probeWrite (url: string): Promise<void> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 5_000,
    query_timeout: 5_000,
    statement_timeout: 4_000,
    lock_timeout: 2_000,
    application_name: 'cnc-monitor-probe',
  })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('BEGIN')
    await client.query(PROBE_SQL)
    await client.query('ROLLBACK')
  } finally {
    await client.end().catch(() => {})
  }
}

/** A row with the NOT NULL columns only (READING_FIELDS' required ones), rolled back. */
const PROBE_FIELDS: readonly FieldSpec[] = READING_FIELDS.filter((f) => f.required)
const PROBE_SQL = `INSERT INTO sensor_data (time, machine_id${PROBE_FIELDS.map((f) => `, ${f.name}`).join('')}) ` +
  `VALUES (now(), 'cnc-monitor-write-probe'${PROBE_FIELDS.map((f) => f.sql === 'text' ? ", ''" : ', 0').join('')})`

/** Redacts the password of a connection URL for logs. */
export function redactUrl (url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable url)'
  }
}

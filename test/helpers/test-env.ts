/**
 * Per-run isolation: every test environment gets its own JetStream stream, consumer and database,
 * named after the process and a random suffix, and removes them in cleanup().
 */
import { randomBytes } from 'node:crypto'
import { jetstreamManager, type JetStreamManager, type ConsumerInfo } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import pg from 'pg'
import { pino } from 'pino'
import { loadConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/schema.js'
import { ensureStream } from '../../src/ingest/jetstream-setup.js'
import { ensureDatabase, quoteIdent } from '../../src/write/database.js'
import { detectFeatures } from '../../src/write/db-features.js'
import { migrate } from '../../src/write/migrate.js'

export const NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222'
export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://root@127.0.0.1:5432/postgres'

export const silentLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

export function uniqueName (prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`
}

export interface TestEnv {
  readonly stream: string
  readonly consumer: string
  readonly database: string
  readonly databaseUrl: string
  readonly nc: NatsConnection
  readonly jsm: JetStreamManager
  /** CNC_* variables selecting this environment (for child processes). */
  readonly env: Record<string, string>
  config (overrides?: Record<string, string>): Config
  query<R extends pg.QueryResultRow = Record<string, unknown>> (sql: string, params?: unknown[]): Promise<R[]>
  consumerInfo (): Promise<ConsumerInfo>
  cleanup (): Promise<void>
}

export async function createTestEnv (prefix = 'T'): Promise<TestEnv> {
  const stream = uniqueName(prefix).toUpperCase()
  const consumer = 'C_' + stream
  const database = uniqueName('cnc_test').toLowerCase()
  const dbUrl = new URL(PG_ADMIN_URL)
  dbUrl.pathname = '/' + database
  const databaseUrl = dbUrl.toString()
  const nc = await connect({ servers: NATS_URL, noAsyncTraces: true })
  const jsm = await jetstreamManager(nc)
  await ensureStream(jsm, stream, silentLog)
  let db: pg.Pool | undefined
  const env: Record<string, string> = {
    CNC_NATS_URL: NATS_URL,
    CNC_NATS_STREAM: stream,
    CNC_NATS_CONSUMER: consumer,
    CNC_DATABASE_URL: databaseUrl,
    CNC_HTTP_PORT: '0',
    CNC_LOG_SUMMARY_INTERVAL_MS: '0',
  }
  return {
    stream,
    consumer,
    database,
    databaseUrl,
    nc,
    jsm,
    env,
    config: (overrides = {}) => loadConfig([], { ...env, ...overrides }),
    async query (sql, params) {
      db ??= new pg.Pool({ connectionString: databaseUrl, max: 2 })
      return (await db.query(sql, params)).rows
    },
    consumerInfo: () => jsm.consumers.info(stream, consumer),
    async cleanup () {
      await db?.end()
      await jsm.streams.delete(stream).catch(() => {})
      await nc.close()
      const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
      await admin.connect()
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`)
      await admin.end()
    },
  }
}

/** The environment's database, created and migrated as the service would at start-up, with a pool on it. */
export async function migratedPool (t: TestEnv): Promise<pg.Pool> {
  await ensureDatabase(t.databaseUrl, silentLog)
  const pool = new pg.Pool({ connectionString: t.databaseUrl, max: 2 })
  const c = await pool.connect()
  try {
    await migrate(c, await detectFeatures(c, silentLog), silentLog)
  } finally {
    c.release()
  }
  return pool
}

/** Polls `probe` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor (what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 20_000, everyMs = 50): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    if (await probe()) return
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

const enc = new TextEncoder()

/** Publishes payloads with core NATS (fast) and waits until the stream holds them all. */
export async function prefill (t: TestEnv, payloads: readonly (string | Uint8Array)[], subject = `${t.stream}.metrics`): Promise<void> {
  const before = (await t.jsm.streams.info(t.stream)).state.messages
  for (const p of payloads) t.nc.publish(subject, typeof p === 'string' ? enc.encode(p) : p)
  await t.nc.flush()
  await waitFor('the stream to hold every published message', async () =>
    (await t.jsm.streams.info(t.stream)).state.messages >= before + payloads.length)
}

/** Waits until the consumer has nothing pending and nothing awaiting ack. */
export async function waitSettled (t: TestEnv, timeoutMs = 30_000): Promise<void> {
  await waitFor('the consumer to have nothing pending', async () => {
    const ci = await t.consumerInfo()
    return ci.num_pending === 0 && ci.num_ack_pending === 0
  }, timeoutMs, 100)
}

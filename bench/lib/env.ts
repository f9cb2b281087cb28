/**
 * A private stream, consumer and database per benchmark run (names carry the pid and a random suffix),
 * removed by cleanup(). The service creates the database and the consumer itself at start.
 */
import { randomBytes } from 'node:crypto'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import pg from 'pg'

export const NATS_URL = process.env.PERF_NATS_URL ?? 'nats://127.0.0.1:4222'
export const PG_ADMIN_URL = process.env.PERF_PG_URL ?? 'postgres://root@127.0.0.1:5432/postgres'

/** A size or count from the environment (PERF_*), `dflt` when unset or empty. */
export const envInt = (name: string, dflt: number): number => (process.env[name] !== undefined && process.env[name] !== '' ? Number(process.env[name]) : dflt)

export interface BenchEnv {
  readonly stream: string
  readonly consumer: string
  readonly database: string
  readonly databaseUrl: string
  readonly subject: string
  readonly nc: NatsConnection
  readonly jsm: JetStreamManager
  /** CNC_* variables that point the service at this environment. */
  readonly cnc: Record<string, string>
  query<R extends pg.QueryResultRow = Record<string, unknown>> (sql: string, params?: unknown[]): Promise<R[]>
  streamCount (): Promise<number>
  /** Publishes with core NATS (no per-message ack) and waits until the stream holds them all. */
  prefill (payloads: Iterable<Uint8Array>): Promise<void>
  cleanup (): Promise<void>
}

export function uniqueName (prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`
}

/**
 * Flushes PostgreSQL's dirty buffers now, so a measurement that follows does not pay for the WAL an
 * earlier phase left behind (a drain of 300,000 rows otherwise meets the checkpoint it provoked).
 */
export async function checkpoint (): Promise<void> {
  await adminQuery('CHECKPOINT')
}

export async function adminQuery (sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  try { await admin.query(sql) } finally { await admin.end() }
}

export function dbUrl (database: string): string {
  const u = new URL(PG_ADMIN_URL)
  u.pathname = '/' + database
  return u.toString()
}

const FLUSH_BYTES = 4 << 20

export async function createBenchEnv (prefix: string): Promise<BenchEnv> {
  const stream = uniqueName('PERF_' + prefix).toUpperCase()
  const consumer = 'C_' + stream
  const database = uniqueName('cnc_perf_' + prefix).toLowerCase()
  const databaseUrl = dbUrl(database)
  const nc = await connect({ servers: NATS_URL, noAsyncTraces: true, name: 'cnc-perf' })
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
  let pool: pg.Pool | undefined
  const streamCount = async (): Promise<number> => (await jsm.streams.info(stream)).state.messages
  return {
    stream,
    consumer,
    database,
    databaseUrl,
    subject: `${stream}.metrics`,
    nc,
    jsm,
    cnc: { CNC_NATS_URL: NATS_URL, CNC_NATS_STREAM: stream, CNC_NATS_CONSUMER: consumer, CNC_DATABASE_URL: databaseUrl },
    async query (sql, params) {
      pool ??= new pg.Pool({ connectionString: databaseUrl, max: 2 })
      return (await pool.query(sql, params)).rows
    },
    streamCount,
    async prefill (payloads) {
      const before = await streamCount()
      const subject = `${stream}.metrics`
      // Flushing every 4 MB keeps the client's outbound buffer small; core publish runs ≈270k msg/s here.
      let count = 0
      let unflushed = 0
      for (const p of payloads) {
        nc.publish(subject, p)
        count++
        unflushed += p.length
        if (unflushed >= FLUSH_BYTES) { await nc.flush(); unflushed = 0 }
      }
      await nc.flush()
      const until = Date.now() + 120_000
      while (await streamCount() < before + count) {
        if (Date.now() > until) throw new Error(`stream ${stream} holds ${await streamCount()} of ${before + count} messages after 120 s`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    async cleanup () {
      await pool?.end()
      await jsm.streams.delete(stream).catch(() => {})
      await nc.close()
      await adminQuery(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
    },
  }
}

export interface ConsumerState {
  delivered: number
  pending: number
  ackPending: number
  /**
   * When the ack floor last moved (ms since 1970, nats-server's clock, sub-ms): once nothing awaits ack,
   * the instant of the last ack, whatever the polling interval. Undefined before the first ack.
   */
  ackFloorAt: number | undefined
}

/** nats-server's `last_active` (RFC 3339 with nanoseconds) in ms since 1970; undefined for the zero time. */
export function serverTimeMs (value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(value)
  if (m === null) return undefined
  const ms = Date.parse(`${m[1] as string}Z`) + Number(`0.${m[2] ?? '0'}`) * 1000
  return ms > 0 ? ms : undefined
}

export async function consumerState (env: BenchEnv, consumer = env.consumer): Promise<ConsumerState | null> {
  try {
    const ci = await env.jsm.consumers.info(env.stream, consumer)
    return { delivered: ci.delivered.stream_seq, pending: ci.num_pending, ackPending: ci.num_ack_pending, ackFloorAt: serverTimeMs(ci.ack_floor.last_active as unknown) }
  } catch {
    return null // not created yet
  }
}

/**
 * Polls the consumer every `everyMs` and returns the time (performance.now()) of the first poll
 * where `done` holds. The error of each returned instant is at most one poll interval plus one round trip.
 */
export async function pollUntil (env: BenchEnv, done: (s: ConsumerState) => boolean, timeoutMs: number, everyMs = 5, consumer = env.consumer): Promise<number> {
  const until = performance.now() + timeoutMs
  for (;;) {
    const s = await consumerState(env, consumer)
    const now = performance.now()
    if (s !== null && done(s)) return now
    if (now > until) throw new Error(`timed out after ${timeoutMs} ms waiting on consumer ${consumer}: ${JSON.stringify(s)}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Load and accounting for the fault tests.
 *
 * Every valid reading carries a unique key (machine_id, active_program_line): machine `F<k>` and the
 * message's sequence number, so a row stored twice is countable:
 *   duplicates = count(*) − count(DISTINCT (machine_id, active_program_line)).
 *
 * The accounting every fault test ends with:
 *   distinct rows  = valid messages acknowledged by JetStream
 *   duplicate rows = 0, duplicate dead letters = 0
 *   rows + dead letters = every message JetStream stored
 *   consumer: nothing pending, nothing awaiting ack
 */
import assert from 'node:assert/strict'
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import { CONSUMER, STREAM, sleep, waitFor, type Faults } from './harness.js'

/** What the load and accounting need of a test world (the single-server Faults, or a cluster's). */
export type World = Pick<Faults, 'nc' | 'jsm' | 'query'>

export const SUBJECT = `${STREAM}.metrics`
const MACHINES = 16
const BASE_MS = Date.UTC(2025, 6, 13, 10, 0, 0)
const enc = new TextEncoder()

/** Valid reading number `n` (unique key: machine F<n % 16>, program line n). */
export function validPayload (n: number): string {
  const ts = new Date(BASE_MS + n * 10).toISOString()
  return `{"machine_id":"F${n % MACHINES}","timestamp":"${ts}","temperature":${40 + (n % 100) / 10},"spindle_speed":${1200 + (n % 500)},` +
    `"x_pos_mm":${n % 1000},"y_pos_mm":-1.5,"z_pos_mm":0.5,"feed_rate_actual":500,"spindle_load_percent":42.5,` +
    `"machine_state":"RUNNING","active_program_line":${n},"total_power_kw":7.25}`
}

/**
 * Publishes valid readings [from, to) with core NATS (fast) and waits until the stream holds them;
 * the stream's count is what JetStream acknowledged storing.
 */
export async function prefill (f: World, from: number, to: number, chunk = 20_000): Promise<void> {
  const nc = await f.nc()
  const jsm = await f.jsm()
  const before = (await jsm.streams.info(STREAM)).state.messages
  for (let start = from; start < to; start += chunk) {
    const end = Math.min(to, start + chunk)
    for (let n = start; n < end; n++) nc.publish(SUBJECT, enc.encode(validPayload(n)))
    await nc.flush()
    // Let JetStream keep up before the next chunk: a core publish it cannot take in time is lost.
    await waitFor('the stream to store the chunk', async () =>
      (await jsm.streams.info(STREAM)).state.messages >= before + end - from, 120_000, 20)
  }
  const stored = (await jsm.streams.info(STREAM)).state.messages - before
  assert.equal(stored, to - from, 'the stream stored every prefilled message')
}

/**
 * Live load with JetStream publish acks. Each message has a Nats-Msg-Id and is retried with the same
 * id until JetStream acknowledges it, so a publish whose ack was lost (server restarting) is stored
 * once, and `acked` is exactly the number of messages in the stream from this publisher.
 */
export class LivePublisher {
  acked = 0
  failures = 0
  #next: number
  #stop = false
  #done: Promise<void> | undefined
  readonly #js: Promise<JetStreamClient>

  constructor (f: World, firstSeq: number) {
    this.#next = firstSeq
    this.#js = f.nc().then((nc) => jetstream(nc, { timeout: 2_000 }))
  }

  get nextSeq (): number { return this.#next }

  /** Publishes with `window` messages outstanding, about `ratePerSec` per second at most. */
  start (window = 200, ratePerSec = 5_000): void {
    this.#done = (async () => {
      const js = await this.#js
      const workers: Array<Promise<void>> = []
      const perWorkerGap = 1000 / (ratePerSec / window)
      for (let w = 0; w < window; w++) {
        workers.push((async () => {
          while (!this.#stop) {
            const n = this.#next++
            const started = Date.now()
            await this.#publishOnce(js, n)
            const wait = perWorkerGap - (Date.now() - started)
            if (wait > 0) await sleep(wait)
          }
        })())
      }
      await Promise.all(workers)
    })()
  }

  async #publishOnce (js: JetStreamClient, n: number): Promise<void> {
    const until = Date.now() + 120_000
    for (;;) {
      try {
        await js.publish(SUBJECT, enc.encode(validPayload(n)), { msgID: `f-${n}` })
        this.acked++
        return
      } catch (err) {
        this.failures++
        if (Date.now() > until) throw err
        await sleep(100)
      }
    }
  }

  /** Stops starting new messages and waits until every started one is acknowledged. */
  async stop (): Promise<void> {
    this.#stop = true
    await this.#done
  }
}

export interface Expected {
  /** Valid messages JetStream acknowledged (each must be one row). */
  readonly valid: number
  /** Every message JetStream stored (valid + poison). */
  readonly published: number
}

export interface Accounts {
  readonly rows: number
  readonly distinct: number
  readonly rejected: number
  readonly rejectedDistinct: number
  readonly pending: number
  readonly ackPending: number
}

/** Rows in sensor_data (PostgreSQL only: usable while NATS is away). */
export async function rowCount (f: World): Promise<number> {
  const [r] = await f.query<{ n: string }>('SELECT count(*) AS n FROM sensor_data')
  return Number(r?.n)
}

export async function accounts (f: World): Promise<Accounts> {
  const [r] = await f.query<{ rows: string, distinct: string }>(
    'SELECT count(*) AS rows, count(DISTINCT (machine_id, active_program_line)) AS distinct FROM sensor_data')
  const [d] = await f.query<{ n: string, distinct: string }>('SELECT count(*) AS n, count(DISTINCT stream_seq) AS distinct FROM rejected_messages')
  const ci = await (await f.jsm()).consumers.info(STREAM, CONSUMER)
  return {
    rows: Number(r?.rows),
    distinct: Number(r?.distinct),
    rejected: Number(d?.n),
    rejectedDistinct: Number(d?.distinct),
    pending: ci.num_pending,
    ackPending: ci.num_ack_pending,
  }
}

/** Waits until the consumer has settled everything, then checks the shared accounting. */
export async function assertAccounting (f: World, expected: Expected, settleMs = 120_000): Promise<Accounts> {
  const stored = (await (await f.jsm()).streams.info(STREAM)).state.messages
  assert.equal(stored, expected.published, 'JetStream stored exactly what was published and acknowledged')
  // On timeout the assertions below say what is missing.
  await waitFor('the consumer to settle every message', async () => {
    const a = await accounts(f)
    return a.pending === 0 && a.ackPending === 0 && a.rows + a.rejected >= expected.published
  }, settleMs, 250).catch(() => {})
  // A late duplicate would come from a redelivery after ack_wait (3 s): give it the chance to show.
  await sleep(1_000)
  const a = await accounts(f)
  const context = JSON.stringify({ expected, ...a })
  assert.equal(a.distinct, expected.valid, `distinct rows = valid messages acknowledged by JetStream ${context}`)
  assert.equal(a.rows - a.distinct, 0, `duplicate rows ${context}`)
  assert.equal(a.rejected - a.rejectedDistinct, 0, `duplicate dead letters ${context}`)
  assert.equal(a.distinct + a.rejectedDistinct, expected.published, `rows + rejected = all published ${context}`)
  assert.equal(a.pending, 0, 'nothing pending')
  assert.equal(a.ackPending, 0, 'nothing awaiting ack')
  return a
}

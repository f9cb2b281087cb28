/**
 * When JetStream gives up on a message (it was delivered max_deliver times and never settled), it
 * publishes a MAX_DELIVERIES advisory and never delivers the message again. So that nothing is ever
 * silently dropped, each such message is fetched from the stream by sequence and stored as a dead
 * letter with reason `max_deliveries` — unless the ledger shows it was committed (its acks were lost).
 *
 *   $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>  {"stream_seq": N, "deliveries": D, "timestamp": …}
 *
 * Exactly one outcome per message, across any number of instances:
 *   - a queue-group subscription hands each advisory to one instance;
 *   - the dead letter is inserted and its sequence recorded in ingest_ledger in one transaction, under
 *     the per-stream advisory lock the batch writer takes (write/ledger.ts), after checking the ledger:
 *
 *       BEGIN · lock stream · ledger has N? ─yes─▶ nothing (it is a row) · COMMIT
 *                                          └─no──▶ INSERT rejected_messages · INSERT ledger [N,N] · COMMIT
 *
 *     so a copy of N still in some writer's batch later finds N committed and is acked without a row,
 *     and an advisory repeated (or forged for a committed message) finds the row and does nothing.
 *
 * Bounded: at most MAX_QUEUED advisories wait (beyond that they are dropped with an error line naming
 * the sequence), one pool connection at a time, groups of up to GROUP advisories per transaction,
 * MAX_ATTEMPTS tries per group with exponential backoff (1 s doubling to 60 s: about 15 minutes).
 * Advisories are core NATS messages: one published while no instance listens is not seen. The
 * pipeline makes reaching max_deliver rare (a batch one delivery from the limit is retried in place,
 * never nak'd), so this is the last line, not the main one.
 */
import type { JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import type pg from 'pg'
import type { Logger } from 'pino'
import { RejectCode } from '../errors.js'
import type { Metrics } from '../metrics.js'
import { insertDeadLetters, type DeadLetter } from '../write/dead-letters.js'
import { findCommitted, lockStream, recordCommitted, toRanges } from '../write/ledger.js'
import { asBuffer } from '../bytes.js'

const MAX_QUEUED = 10_000
const GROUP = 100
const MAX_ATTEMPTS = 20
const RETRY_FIRST_MS = 1_000
const RETRY_MAX_MS = 60_000
/** Queue group shared by every instance of the service. */
export const ADVISORY_QUEUE = 'cnc-monitor-max-deliveries'

interface Advisory { readonly stream_seq?: unknown, readonly deliveries?: unknown, readonly timestamp?: unknown }
interface Pending { readonly seq: number, readonly deliveries: number, /** advisory time, ms; NaN unknown */ readonly at: number }

export interface MaxDeliveriesOptions {
  readonly stream: string
  readonly consumer: string
  /** Ledger identity of the stream, read per group (it follows a recreated stream). */
  readonly streamKey: () => string
  /** Test hooks; the constants above otherwise. */
  readonly retryFirstMs?: number
  readonly maxAttempts?: number
}

export class MaxDeliveriesListener {
  readonly #jsm: JetStreamManager
  readonly #pool: pg.Pool
  readonly #opts: MaxDeliveriesOptions
  readonly #metrics: Metrics
  readonly #log: Logger
  readonly #sub: Subscription
  readonly #queue: Pending[] = []
  #running: Promise<void> | undefined
  #dropped = 0
  #stopped = false
  #wake: (() => void) | undefined

  constructor (nc: NatsConnection, jsm: JetStreamManager, pool: pg.Pool, opts: MaxDeliveriesOptions, metrics: Metrics, log: Logger) {
    this.#jsm = jsm
    this.#pool = pool
    this.#opts = opts
    this.#metrics = metrics
    this.#log = log
    const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${opts.stream}.${opts.consumer}`
    this.#sub = nc.subscribe(subject, { queue: ADVISORY_QUEUE, callback: (err, m) => { if (err === null) this.#onAdvisory(m.data) } })
  }

  /** Advisories received and not yet stored or given up. */
  get queued (): number { return this.#queue.length }

  #onAdvisory (data: Uint8Array): void {
    let a: Advisory
    try {
      a = JSON.parse(asBuffer(data).toString('utf8')) as Advisory
    } catch {
      return
    }
    const seq = Number(a?.stream_seq)
    if (!Number.isSafeInteger(seq) || seq <= 0 || this.#stopped) return
    if (this.#queue.length >= MAX_QUEUED) {
      if (this.#dropped++ % 1000 === 0) this.#log.error({ seq, dropped: this.#dropped }, 'max_deliver advisory queue full: advisory dropped, its message is not dead-lettered')
      return
    }
    this.#queue.push({ seq, deliveries: Number(a.deliveries), at: typeof a.timestamp === 'string' ? Date.parse(a.timestamp) : NaN })
    this.#running ??= this.#run().finally(() => { this.#running = undefined })
  }

  async #run (): Promise<void> {
    while (this.#queue.length > 0 && !this.#stopped) {
      const group = this.#queue.slice(0, GROUP)
      const maxAttempts = this.#opts.maxAttempts ?? MAX_ATTEMPTS
      for (let attempt = 1, delay = this.#opts.retryFirstMs ?? RETRY_FIRST_MS; ; attempt++, delay = Math.min(delay * 2, RETRY_MAX_MS)) {
        if (attempt > 1 && this.#stopped) {
          this.#log.error({ seqs: group.map((p) => p.seq) }, 'closed before max_deliver dead letters could be stored')
          break
        }
        try {
          await this.#store(group)
          break
        } catch (err) {
          if (attempt >= maxAttempts || this.#stopped) {
            this.#log.error({ seqs: group.map((p) => p.seq), attempts: attempt, err: (err as Error).message }, 'gave up storing max_deliver dead letters')
            break
          }
          this.#log.warn({ messages: group.length, attempt, err: (err as Error).message }, 'could not store max_deliver dead letters yet; retrying')
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, delay)
            this.#wake = () => { clearTimeout(timer); resolve() }
          })
          this.#wake = undefined
        }
      }
      this.#queue.splice(0, group.length)
    }
  }

  /** One group in one transaction (see the header). Throws on any failure; nothing is then stored. */
  async #store (group: readonly Pending[]): Promise<void> {
    const letters: DeadLetter[] = []
    const seqs: number[] = []
    for (const p of group) {
      // Fetched before the transaction: the stream lock is not held across NATS requests.
      const stored = await this.#jsm.streams.getMessage(this.#opts.stream, { seq: p.seq })
      if (stored === null) {
        this.#log.warn({ seq: p.seq }, 'message given up by JetStream is no longer in the stream (removed by its limits): no dead letter')
        continue
      }
      if (stored.time.getTime() > p.at) {
        // Stored after the advisory was sent: the stream was recreated and this sequence is another message.
        this.#log.warn({ seq: p.seq }, 'max_deliver advisory of a stream since recreated: ignored')
        continue
      }
      seqs.push(p.seq)
      letters.push({
        subject: stored.subject,
        streamSeq: p.seq,
        reason: RejectCode.maxDeliveries,
        detail: `JetStream delivered it ${p.deliveries} times (nats.max_deliver) without it being settled, and will not deliver it again`,
        payload: stored.data,
      })
    }
    if (seqs.length === 0) return
    const key = this.#opts.streamKey()
    const client = await this.#pool.connect()
    let broken: Error | undefined
    let stored = 0
    try {
      await client.query('BEGIN')
      await lockStream(client, key)
      const done = await findCommitted(client, key, seqs)
      const fresh = done === null ? letters : letters.filter((_, i) => done[i] !== 1)
      if (fresh.length > 0) {
        await insertDeadLetters(client, fresh)
        await recordCommitted(client, key, toRanges(fresh.map((l) => l.streamSeq as number)))
      }
      await client.query('COMMIT')
      stored = fresh.length
    } catch (err) {
      broken = err as Error
      await client.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      client.release(broken)
    }
    if (stored > 0) {
      this.#metrics.rejected.inc({ reason: RejectCode.maxDeliveries }, stored)
      this.#log.warn({ messages: stored, seqs: seqs.slice(0, 20) }, 'messages reached max_deliver: stored as dead letters')
    }
  }

  /**
   * Stops listening, then stores what is queued until the deadline; what is left is logged by sequence.
   * Call it after the pipeline has closed (its last naks can still drive a message to max_deliver).
   */
  async close (deadlineMs = 5_000): Promise<void> {
    if (!this.#sub.isClosed()) this.#sub.unsubscribe()
    const running = this.#running
    if (running !== undefined) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([running, new Promise<void>((resolve) => { timer = setTimeout(resolve, deadlineMs) })])
      clearTimeout(timer)
    }
    this.#stopped = true
    this.#wake?.()
    await this.#running
    if (this.#queue.length > 0) this.#log.error({ seqs: this.#queue.slice(0, 100).map((p) => p.seq), left: this.#queue.length }, 'closed with max_deliver advisories not stored')
  }
}

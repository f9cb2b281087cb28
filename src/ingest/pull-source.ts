/**
 * JetStream pull consumer driven directly over core NATS, and the batching of what it delivers.
 *
 *   PUB $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> {"batch":B,"expires":…,"idle_heartbeat":…} → inbox
 *   inbox ← message (reply $JS.ACK.…)  | 100 idle heartbeat | 408 request expired (Nats-Pending-Messages)
 *                                        | 409 limits / consumer deleted
 *
 * Why not nats.js consume(): its stop() unsubscribes while the server still owes messages on open
 * pull requests; those go to no one and wait out ack_wait (minutes) before redelivery. Here stop()
 * ends pulling but keeps the inbox until what is owed has arrived or expired, and hands it on.
 *
 * Credit: `owed` messages are requested and not yet delivered; a new request goes out when it falls
 * below one batch. Bounded three times: by owed (≤ 3 batches), by the consumer's max_ack_pending, and
 * in bytes: each request asks for at most 2 × max(ingest.max_batch_bytes, the server's max_payload)
 * (`max_bytes`; the server ends it with 409 "Message Size Exceeds MaxBytes", a normal end). Without that, a
 * pull of 10,000 batched payloads of 27 KB is 275 MB owed at once: nats-server cuts the connection
 * as a slow consumer and every delivered message waits out ack_wait.
 * Watchdog: nothing (not even a heartbeat) for 3 heartbeat periods while owed > 0 means the server
 * lost our requests (restart, reconnect): forget them and pull again.
 *
 * States: idle → consuming → stopping (no new pulls) → stopped.
 */
import { createInbox, nanos, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { Metrics } from '../metrics.js'
import { BatchBuilder, type BatchOptions, type IngestBatch } from './batch-builder.js'

export type { IngestBatch }

/** The source batches what it pulls, so it takes the batching options (and pulls from stream/consumer). */
export type SourceOptions = BatchOptions

export type SourceState = 'idle' | 'consuming' | 'stopping' | 'stopped'

const EXPIRES_MS = 5_000
const HEARTBEAT_MS = 1_000

export class PullSource {
  readonly #nc: NatsConnection
  readonly #opts: SourceOptions
  readonly #log: Logger
  readonly #metrics: Metrics
  readonly #builder: BatchBuilder
  readonly #inbox = createInbox()
  readonly #nextSubject: string
  #pullBody: string
  #sub: Subscription | undefined
  #state: SourceState = 'idle'
  #owed = 0
  #lastSeen = 0
  #lastPull = 0
  #watchdog: NodeJS.Timeout | undefined
  #drained: (() => void) | undefined
  #failures = 0
  #lastFailureLog = 0
  #onGone: (() => void) | undefined

  /** `ready()`: the pipeline would start a batch handed on now (see BatchBuilder). */
  constructor (nc: NatsConnection, opts: SourceOptions, onBatch: (b: IngestBatch) => void, ready: () => boolean, metrics: Metrics, log: Logger) {
    this.#nc = nc
    this.#opts = opts
    this.#log = log
    this.#metrics = metrics
    this.#builder = new BatchBuilder(opts, onBatch, ready, (err) => this.#log.error({ err }, 'handing on a batch failed; its messages stay unacked and come back after ack_wait'))
    this.#nextSubject = `$JS.API.CONSUMER.MSG.NEXT.${opts.stream}.${opts.consumer}`
    this.#pullBody = this.#makePullBody()
  }

  /** The pull request; its byte bound follows the server's max_payload (read again after a reconnect). */
  #makePullBody (): string {
    const maxBytes = 2 * Math.max(this.#opts.maxBatchBytes, this.#nc.info?.max_payload ?? 0) + 65_536
    return JSON.stringify({ batch: this.#opts.batchSize * 2, max_bytes: maxBytes, expires: nanos(EXPIRES_MS), idle_heartbeat: nanos(HEARTBEAT_MS) })
  }

  get state (): SourceState { return this.#state }

  /** Called when the server says the consumer is gone (the pulls then go nowhere until it is back). */
  onConsumerGone (fn: () => void): void { this.#onGone = fn }

  start (): void {
    if (this.#state !== 'idle') return
    this.#state = 'consuming'
    this.#sub = this.#nc.subscribe(this.#inbox, { callback: (err, m) => { if (err === null) this.#receive(m) } })
    this.#lastSeen = Date.now()
    this.#pullIfLow()
    this.#watchdog = setInterval(() => this.#watch(), HEARTBEAT_MS)
    this.#watchdog.unref()
  }

  #pullIfLow (): void {
    if (this.#state !== 'consuming' || this.#owed >= this.#opts.batchSize) return
    this.#owed += this.#opts.batchSize * 2
    this.#lastPull = Date.now()
    this.#nc.publish(this.#nextSubject, this.#pullBody, { reply: this.#inbox })
  }

  /**
   * The subscription callback runs inside nats.js's protocol parser: an exception escaping it would
   * break the connection's read loop or end the process. A message whose handling threw is not acked
   * here, so JetStream redelivers it after ack_wait (nothing is lost).
   */
  #receive (m: Msg): void {
    try {
      this.#onMessage(m)
    } catch (err) {
      // At most one line a second: a repeating failure must not flood the log.
      this.#failures++
      const now = Date.now()
      if (now - this.#lastFailureLog < 1_000) return
      this.#log.error({ err, subject: m.subject, bytes: m.data.length, failures: this.#failures }, 'delivered message could not be taken in; JetStream redelivers it after ack_wait')
      this.#lastFailureLog = now
      this.#failures = 0
    }
  }

  #onMessage (m: Msg): void {
    this.#lastSeen = Date.now()
    const reply = m.reply
    if (reply === undefined || reply === '') {
      this.#onStatus(m)
    } else {
      this.#owed--
      this.#builder.add(m.data, reply, m.subject)
      if (this.#owed < this.#opts.batchSize) this.#pullIfLow()
    }
    if (this.#state === 'stopping' && this.#owed <= 0) this.#drained?.()
  }

  #onStatus (m: Msg): void {
    const h = m.headers
    const code = h?.code ?? 0
    if (code === 100) return // idle heartbeat
    const pending = Number(h?.get('Nats-Pending-Messages') ?? '')
    if (Number.isFinite(pending) && pending > 0) this.#owed = Math.max(0, this.#owed - pending)
    if (code === 408 || code === 404 || (code === 409 && /MaxBytes/i.test(h?.description ?? ''))) {
      // A request expired, found nothing (no_wait) or reached its max_bytes: pull again if that left us low.
      this.#pullIfLow()
      return
    }
    this.#log.warn({ code, description: h?.description }, 'pull request ended by the server')
    // 409 Consumer Deleted, or 503 no responders (no consumer to take the pull): someone must recreate it.
    const gone = code === 503 || (code === 409 && /deleted/i.test(h?.description ?? ''))
    if (code === 409 && gone) this.#owed = 0
    if (gone) this.#onGone?.()
    this.#pullIfLow()
  }

  #watch (): void {
    const now = Date.now()
    if (this.#owed > 0 && now - this.#lastSeen > 3 * HEARTBEAT_MS && now - this.#lastPull > 3 * HEARTBEAT_MS) {
      this.#log.warn({ owed: this.#owed, silentMs: now - this.#lastSeen }, 'pull stalled (no messages or heartbeats): pulling again')
      this.#metrics.pullStalls.inc()
      this.#owed = 0
    }
    this.#pullIfLow()
    if (this.#state === 'stopping' && now - this.#lastPull > EXPIRES_MS + HEARTBEAT_MS) this.#drained?.()
  }

  /** The pipeline finished a batch: a partial batch past its linger may go now. */
  offer (): void {
    this.#builder.offer()
  }

  /** Forgets open requests after a reconnect: the new server connection knows none of them. */
  reset (): void {
    this.#pullBody = this.#makePullBody()
    this.#owed = 0
    this.#pullIfLow()
  }

  /**
   * Stops pulling; waits until the open requests are filled or expired (handing on what arrives),
   * hands on the partial batch, then unsubscribes. Idempotent.
   */
  async stop (): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return
    if (this.#state === 'consuming') {
      this.#state = 'stopping'
      if (this.#owed > 0) await new Promise<void>((resolve) => { this.#drained = resolve })
    }
    this.#state = 'stopped'
    clearInterval(this.#watchdog)
    this.#builder.flush()
    this.#sub?.unsubscribe()
  }
}

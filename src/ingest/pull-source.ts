/**
 * JetStream pull consumer driven directly over core NATS, and the batching of what it delivers.
 *
 *   PUB $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> {"batch":B,"max_bytes":…,"expires":…,…} → inbox
 *   inbox ← message (reply $JS.ACK.…)  | 100 idle heartbeat | 408 request expired (Nats-Pending-Messages)
 *                                        | 409 limits / consumer deleted
 *
 * Why not nats.js consume(): its stop() unsubscribes while the server still owes messages on open
 * pull requests; those go to no one and wait out ack_wait (minutes) before redelivery. Here stop()
 * ends pulling but keeps the inbox until what is owed has arrived or expired, and hands it on.
 *
 * Credit (pull-credit.ts): the pipeline grants messages and bytes beyond what it holds
 * (admission.ts); the source asks for at most that less what is owed and what is building, in
 * requests of up to two batches bounded in bytes. When the grant is used up nothing is pulled until
 * the pipeline's wake (a batch ended). The consumer's max_ack_pending bounds it too.
 * Watchdog: nothing (not even a heartbeat) for 3 heartbeat periods while owed > 0 means the server
 * lost our requests (restart, reconnect): forget them and pull again.
 *
 * States: idle → consuming → stopping (no new pulls) → stopped.
 */
import { createInbox, type Msg, type NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { Metrics } from '../metrics.js'
import { unbounded, type Admission, type BatchSink } from './admission.js'
import { BatchBuilder, type BatchOptions, type IngestBatch } from './batch-builder.js'
import { EXPIRES_MS, HEARTBEAT_MS, PullCredit } from './pull-credit.js'

export type { IngestBatch }

/** The source batches what it pulls, so it takes the batching options (and pulls from stream/consumer). */
export type SourceOptions = BatchOptions

export type SourceState = 'idle' | 'consuming' | 'stopping' | 'stopped'

/** What the source reads of a delivered message or status. */
export type SourceMsg = Pick<Msg, 'subject' | 'reply' | 'data' | 'headers'>

/** The NatsConnection members the source uses (unit tests hand in a fake). */
export interface SourceConnection {
  readonly info?: { readonly max_payload: number } | undefined
  publish: NatsConnection['publish']
  subscribe (subject: string, opts: { callback: (err: Error | null, m: SourceMsg) => void }): { unsubscribe (): void }
}

export class PullSource {
  readonly #nc: SourceConnection
  readonly #opts: SourceOptions
  readonly #log: Logger
  readonly #metrics: Metrics
  readonly #admission: Admission
  readonly #builder: BatchBuilder
  readonly #inbox = createInbox()
  readonly #replyTo = { reply: this.#inbox }
  readonly #nextSubject: string
  readonly #credit: PullCredit
  #sub: { unsubscribe (): void } | undefined
  #state: SourceState = 'idle'
  #lastSeen = 0
  #lastPull = 0
  #watchdog: NodeJS.Timeout | undefined
  #drained: (() => void) | undefined
  #failures = 0
  #lastFailureLog = 0
  #onGone: (() => void) | undefined
  #stopping: Promise<void> | undefined

  /**
   * Batches go to `onBatch` (the identity gate, then the pipeline); `admission` is the pipeline's
   * grant (ingest/admission.ts). A bare `ready()` function stands for a consumer with no bound.
   */
  constructor (nc: SourceConnection, opts: SourceOptions, onBatch: BatchSink, admission: Admission | (() => boolean), metrics: Metrics, log: Logger) {
    this.#nc = nc
    this.#opts = opts
    this.#log = log
    this.#metrics = metrics
    this.#admission = typeof admission === 'function' ? unbounded(admission) : admission
    this.#builder = new BatchBuilder(opts, onBatch, this.#admission.ready, (err) => this.#handOnFailed(err))
    this.#nextSubject = `$JS.API.CONSUMER.MSG.NEXT.${opts.stream}.${opts.consumer}`
    this.#credit = new PullCredit(opts, nc.info?.max_payload ?? 0)
    this.#admission.onGrant(() => this.#granted())
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

  /** Asks for what the grant leaves once owed falls below one batch (pull-credit.ts). */
  #pullIfLow (): void {
    if (this.#state !== 'consuming') return
    const body = this.#credit.next(this.#admission.grant, this.#builder.count, this.#builder.bytes)
    if (body === undefined) return
    this.#lastPull = Date.now()
    this.#nc.publish(this.#nextSubject, body, this.#replyTo)
  }

  /** The pipeline's wake: a batch ended, so the grant grew and ready() may be true. */
  #granted (): void {
    try {
      if (this.#admission.ready()) this.#builder.offer()
      this.#pullIfLow()
    } catch (err) {
      this.#handOnFailed(err)
    }
  }

  #handOnFailed (err: unknown): void {
    this.#log.error({ err }, 'handing on a batch failed; its messages stay unacked and come back after ack_wait')
  }

  /**
   * The subscription callback runs inside nats.js's protocol parser: an exception escaping it would
   * break the connection's read loop or end the process. A message whose handling threw is not acked
   * here, so JetStream redelivers it after ack_wait (nothing is lost).
   */
  #receive (m: SourceMsg): void {
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

  #onMessage (m: SourceMsg): void {
    this.#lastSeen = Date.now()
    const reply = m.reply
    if (reply === undefined || reply === '') {
      this.#onStatus(m)
    } else {
      this.#credit.delivered(m.data.length)
      this.#builder.add(m.data, reply, m.subject)
      if (this.#credit.owed < this.#opts.batchSize) this.#pullIfLow()
    }
    if (this.#state === 'stopping' && this.#credit.owed === 0) this.#drained?.()
  }

  #onStatus (m: SourceMsg): void {
    const h = m.headers
    const code = h?.code ?? 0
    if (code === 100) return // idle heartbeat
    this.#credit.ended(Number(h?.get('Nats-Pending-Messages') || 0), Number(h?.get('Nats-Pending-Bytes') || 0))
    if (code === 408 || code === 404 || (code === 409 && /MaxBytes/i.test(h?.description ?? ''))) {
      // A request expired, found nothing (no_wait) or reached its max_bytes: pull again if that left us low.
      this.#pullIfLow()
      return
    }
    this.#log.warn({ code, description: h?.description }, 'pull request ended by the server')
    // 409 Consumer Deleted, or 503 no responders (no consumer to take the pull): someone must recreate it.
    const gone = code === 503 || (code === 409 && /deleted/i.test(h?.description ?? ''))
    if (code === 409 && gone) this.#credit.forget()
    if (gone) this.#onGone?.()
    this.#pullIfLow()
  }

  #watch (): void {
    const now = Date.now()
    if (this.#credit.owed > 0 && now - this.#lastSeen > 3 * HEARTBEAT_MS && now - this.#lastPull > 3 * HEARTBEAT_MS) {
      this.#log.warn({ owed: this.#credit.owed, silentMs: now - this.#lastSeen }, 'pull stalled (no messages or heartbeats): pulling again')
      this.#metrics.pullStalls.inc()
      this.#credit.forget()
    }
    this.#pullIfLow()
    if (this.#state === 'stopping' && now - this.#lastPull > EXPIRES_MS + HEARTBEAT_MS) this.#drained?.()
  }

  /** Forgets open requests after a reconnect: the new server connection knows none of them. */
  reset (): void {
    this.#credit.size(this.#nc.info?.max_payload ?? 0)
    this.#credit.forget()
    this.#pullIfLow()
  }

  /**
   * Stops pulling; waits until the open requests are filled or expired (handing on what arrives),
   * hands on the partial batch, then unsubscribes. Idempotent: every caller waits for the same end.
   */
  stop (): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async #stop (): Promise<void> {
    if (this.#state === 'consuming') {
      this.#state = 'stopping'
      if (this.#credit.owed > 0) await new Promise<void>((resolve) => { this.#drained = resolve })
    }
    this.#state = 'stopped'
    clearInterval(this.#watchdog)
    this.#builder.flush()
    this.#sub?.unsubscribe()
  }
}

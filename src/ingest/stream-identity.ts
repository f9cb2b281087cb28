/**
 * Which stream and consumer ingest reads, kept true while the service runs. The ingest ledger is
 * keyed by the stream's identity `<name>@<created>`: were a batch of a recreated stream checked
 * against the old stream's ledger ranges, its messages would be acked as "already committed" with
 * no rows. So every batch passes a gate:
 *
 *   source ─batch─▶ gate: held until a check that STARTED AFTER the batch arrived confirms the stream
 *                    ├─ same identity  ─────────────────────────────▶ pipeline (reads `key` per batch)
 *                    ├─ stream missing / recreated, batch received before that was seen ─▶ nak
 *                    └─ recreated, batch received after ─ held until the pipeline holds no batch of
 *                       the old stream, then the key switches ─────────▶ pipeline
 *
 * Why "received before that was seen" suffices: the server sends an old stream's deliveries before it
 * deletes that stream, and answers our info request after, on the same connection; so every message
 * of the old stream arrives before the answer that first shows the stream missing or new.
 * One check = STREAM.INFO (a small JetStream API request; CONSUMER.INFO too every CHECK_EVERY_MS, and
 * at once when a pull is answered "consumer deleted": suspect()). At most one runs at a time; batches
 * arriving meanwhile wait for the next, so a batch waits one or two round trips.
 *
 * A missing consumer is recreated from configuration, starting after the last ack floor seen and
 * the ledger ranges contiguous with it (below that everything was settled, and ledger ranges may have
 * been pruned: starting from the first message would write those again). A missing stream is recreated, with nats.stream_* limits, after
 * STREAM_GRACE_MS (an operator recreating it with their own settings gets there first).
 *
 * States (`problem`, read by /readyz): null (ok) | 'missing' (consumer) | 'stream missing' |
 * 'stream recreated' (old batches still in the pipeline).
 */
import { JetStreamApiCodes, type JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import type { IngestBatch } from './batch-builder.js'
import { ensureConsumer, ensureStream, isApiError, streamLimits } from './jetstream-setup.js'

const CHECK_EVERY_MS = 2_000
const STREAM_GRACE_MS = 10_000
const SWITCH_POLL_MS = 50
const RETRY_MS = 1_000

export interface IdentityOptions {
  readonly jsm: JetStreamManager
  readonly config: Config
  /** The identity found at start (ensureStream). */
  readonly initialKey: string
  /** The pipeline holds no batch: nothing queued, nothing in flight. */
  readonly pipelineIdle: () => boolean
  readonly handOn: (batch: IngestBatch) => void
  readonly nak: (replies: readonly string[]) => void
  readonly keepAlive: (replies: readonly string[]) => void
  /** The consumer was recreated: pull again now. */
  readonly consumerBack: () => void
  /** Highest sequence through which everything after `after` is settled (the ingest ledger). */
  readonly settledThrough: (key: string, after: number) => Promise<number>
  readonly log: Logger
}

interface Held { readonly batch: IngestBatch, readonly needs: number, lastSignal: number }

export class StreamIdentity {
  readonly #o: IdentityOptions
  readonly #stream: string
  readonly #held: Held[] = []
  #key: string
  #pendingKey: string | undefined
  /** When a check first saw the stream missing or different: batches received until then may be old. */
  #changedAt = 0
  #streamMissingSince = 0
  #consumerMissing = false
  /** Pulls may have gone to a consumer that no longer exists: pull afresh once it is confirmed. */
  #repull = false
  #wantConsumer = true
  #ackFloor = 0
  #started = 0
  #confirmed = 0
  #checking = false
  #again = false
  #closed = false
  #tick: NodeJS.Timeout | undefined
  #switchTimer: NodeJS.Timeout | undefined
  #retryTimer: NodeJS.Timeout | undefined

  constructor (opts: IdentityOptions) {
    this.#o = opts
    this.#stream = opts.config.nats.stream
    this.#key = opts.initialKey
  }

  /** The ledger identity batches handed on now belong to. */
  get key (): string { return this.#key }
  get held (): number { return this.#held.length }

  /** Why ingest is not running, for /readyz; null when it is. */
  get problem (): string | null {
    if (this.#streamMissingSince > 0) return 'stream missing'
    if (this.#pendingKey !== undefined) return 'stream recreated'
    return this.#consumerMissing ? 'missing' : null
  }

  start (): void {
    const ackWait = this.#o.config.nats.backoff_ms[0] ?? this.#o.config.nats.ack_wait_ms
    this.#tick = setInterval(() => this.#onTick(ackWait / 3), Math.min(CHECK_EVERY_MS, Math.floor(ackWait / 3)))
    this.#tick.unref()
  }

  /** The source's batch callback. */
  readonly admit = (batch: IngestBatch): void => {
    if (this.#closed) {
      this.#o.nak(batch.replies)
      return
    }
    this.#held.push({ batch, needs: this.#started + 1, lastSignal: Date.now() })
    this.#check()
  }

  /** Something (a 409 "consumer deleted", a 503 "no responders" on pull) says the consumer is gone. */
  suspect (): void {
    this.#repull = true
    this.#check()
  }

  /**
   * Stops checking once every held batch went on or was nak'd, or at the deadline (then naks the rest
   * and resolves false).
   */
  async close (deadlineMs: number): Promise<boolean> {
    const until = Date.now() + deadlineMs
    while (this.#held.length > 0 && Date.now() < until) {
      this.#check()
      await new Promise((resolve) => setTimeout(resolve, SWITCH_POLL_MS))
    }
    this.#closed = true
    clearInterval(this.#tick)
    clearTimeout(this.#switchTimer)
    clearTimeout(this.#retryTimer)
    const left = this.#held.splice(0)
    for (const h of left) this.#o.nak(h.batch.replies)
    return left.length === 0
  }

  #onTick (keepAliveAfterMs: number): void {
    const now = Date.now()
    for (const h of this.#held) {
      if (now - h.lastSignal >= keepAliveAfterMs) {
        this.#o.keepAlive(h.batch.replies)
        h.lastSignal = now
      }
    }
    this.#wantConsumer = true
    this.#check()
  }

  #check (): void {
    if (this.#closed) return
    if (this.#checking) {
      this.#again = true
      return
    }
    this.#checking = true
    this.#again = false
    const n = ++this.#started
    this.#runCheck(n).then((ok) => {
      this.#checking = false
      if (!ok) {
        clearTimeout(this.#retryTimer)
        this.#retryTimer = setTimeout(() => this.#check(), RETRY_MS)
        this.#retryTimer.unref()
      } else if (this.#again) {
        this.#check()
      }
    }, (err: unknown) => {
      this.#checking = false
      this.#o.log.error({ err }, 'stream identity check failed unexpectedly')
    })
  }

  /** One check; false when it could not tell (NATS away, a timeout). */
  async #runCheck (n: number): Promise<boolean> {
    const { jsm, log } = this.#o
    const withConsumer = this.#wantConsumer || this.#repull || this.#consumerMissing
    const [stream, consumer] = await Promise.allSettled([
      jsm.streams.info(this.#stream),
      withConsumer ? jsm.consumers.info(this.#stream, this.#o.config.nats.consumer) : Promise.resolve(null),
    ])
    const seenAt = Date.now()
    if (stream.status === 'rejected') {
      if (!isApiError(stream.reason, JetStreamApiCodes.StreamNotFound)) return false
      this.#repull = true
      if (this.#streamMissingSince === 0) {
        this.#streamMissingSince = seenAt
        this.#changedAt = seenAt
        log.warn({ stream: this.#stream }, 'stream deleted: pausing ingest until it exists again')
      }
      this.#confirm(n)
      if (seenAt - this.#streamMissingSince >= STREAM_GRACE_MS) await this.#recreateStream()
      return true
    }
    const key = `${this.#stream}@${stream.value.created}`
    if (key !== (this.#pendingKey ?? this.#key)) {
      if (this.#streamMissingSince === 0) this.#changedAt = seenAt
      this.#pendingKey = key
      this.#ackFloor = 0
      this.#repull = true
      log.warn({ from: this.#key, to: key }, 'stream recreated: ledger identity follows it once the old stream\'s batches are settled')
    }
    this.#streamMissingSince = 0
    if (!withConsumer) {
      if (this.#repull) this.#again = true
    } else if (consumer.status === 'fulfilled' && consumer.value !== null) {
      this.#wantConsumer = false
      this.#ackFloor = consumer.value.ack_floor.stream_seq
      if (this.#consumerMissing) log.info({ consumer: this.#o.config.nats.consumer }, 'consumer exists again')
      this.#consumerMissing = false
      if (this.#repull) {
        this.#repull = false
        this.#o.consumerBack()
      }
    } else if (consumer.status === 'rejected' && isApiError(consumer.reason, JetStreamApiCodes.ConsumerNotFound)) {
      await this.#recreateConsumer()
    }
    this.#confirm(n)
    this.#trySwitch()
    return true
  }

  async #recreateStream (): Promise<void> {
    try {
      await ensureStream(this.#o.jsm, this.#stream, this.#o.log, streamLimits(this.#o.config))
      this.#again = true
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'could not recreate the stream; will retry')
    }
  }

  async #recreateConsumer (): Promise<void> {
    const { config, log } = this.#o
    if (!this.#consumerMissing) log.warn({ consumer: config.nats.consumer }, 'consumer deleted: recreating it from configuration')
    this.#consumerMissing = true
    try {
      // A new stream starts from its first message; the same stream after what was already settled.
      const startSeq = this.#pendingKey === undefined ? await this.#o.settledThrough(this.#key, this.#ackFloor) + 1 : 1
      await ensureConsumer(this.#o.jsm, config, log, startSeq)
      this.#again = true
      this.#repull = true
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not recreate the consumer; will retry')
    }
  }

  /** Check n answered: settle the gate for batches that waited for it. */
  #confirm (n: number): void {
    if (n > this.#confirmed) this.#confirmed = n
    this.#release()
  }

  #release (): void {
    let nakd = 0
    for (let i = 0; i < this.#held.length;) {
      const h = this.#held[i] as Held
      if (h.needs > this.#confirmed) { i++; continue }
      if (h.batch.receivedAt <= this.#changedAt) {
        this.#held.splice(i, 1)
        this.#o.nak(h.batch.replies)
        nakd += h.batch.replies.length
      } else if (this.#pendingKey !== undefined || this.#streamMissingSince > 0) {
        i++
      } else {
        this.#held.splice(i, 1)
        this.#o.handOn(h.batch)
      }
    }
    if (nakd > 0) this.#o.log.warn({ messages: nakd }, 'nak\'d messages that may belong to the deleted stream')
  }

  /** The new identity takes effect once no batch of the old stream is left in the pipeline. */
  #trySwitch (): void {
    clearTimeout(this.#switchTimer)
    if (this.#pendingKey === undefined || this.#closed) return
    if (!this.#o.pipelineIdle()) {
      this.#switchTimer = setTimeout(() => this.#trySwitch(), SWITCH_POLL_MS)
      this.#switchTimer.unref()
      return
    }
    this.#o.log.info({ from: this.#key, to: this.#pendingKey }, 'ingest ledger identity switched to the recreated stream')
    this.#key = this.#pendingKey
    this.#pendingKey = undefined
    this.#release()
  }
}

/**
 * JetStream pull consumer → batches. Messages arrive through consume()'s callback (no per-message
 * promise); their payloads are copied back to back into one buffer that is later transferred to a
 * parser worker. A batch is handed on when it holds ingest.batch_size messages, or ingest.linger_ms
 * after its first message, whichever comes first, so a quiet plant still sees its data quickly.
 *
 * States: idle → consuming → stopped. stop() hands on the partial batch; messages that still arrive
 * after it are nak'd for immediate redelivery, so another instance (or the next start) takes them at once.
 *
 * Bounded: the server delivers at most max_ack_pending unacked messages to the durable consumer, which
 * the set-up sizes to the batches the pipeline may hold, so this side never buffers without limit.
 */
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { nakNow } from '../ack/settle.js'
import type { RawBatch } from '../contracts.js'

export interface IngestBatch {
  readonly msgs: JsMsg[]
  readonly raw: RawBatch
  /** Stream sequence of each message (for dead letters and redelivery checks). */
  readonly streamSeq: Float64Array
  /** How many messages JetStream marked as redelivered. */
  readonly redelivered: number
  /** Stream messages not yet delivered to this consumer, as of the batch's last message. */
  readonly pendingAfter: number
  readonly receivedAt: number
}

export interface SourceOptions {
  readonly stream: string
  readonly consumer: string
  readonly batchSize: number
  readonly lingerMs: number
  readonly maxPayloadBytes: number
}

export class JetStreamSource {
  readonly #opts: SourceOptions
  readonly #onBatch: (b: IngestBatch) => void
  readonly #log: Logger
  /** `$JS.ACK.<stream>.<consumer>.`: nats-server 2.9's reply subject prefix; the numbers follow. */
  readonly #replyPrefix: string
  #messages: ConsumerMessages | undefined
  #state: 'idle' | 'consuming' | 'stopped' = 'idle'

  // The batch being filled.
  #msgs: JsMsg[] = []
  #bytes: Uint8Array
  #offsets: Uint32Array
  #seq: Float64Array
  #pos = 0
  #redelivered = 0
  #pending = 0
  #linger: NodeJS.Timeout | undefined
  #firstAt = 0

  constructor (opts: SourceOptions, onBatch: (b: IngestBatch) => void, log: Logger) {
    this.#opts = opts
    this.#onBatch = onBatch
    this.#log = log
    this.#replyPrefix = `$JS.ACK.${opts.stream}.${opts.consumer}.`
    this.#bytes = new Uint8Array(opts.batchSize * 256)
    this.#offsets = new Uint32Array(opts.batchSize + 1)
    this.#seq = new Float64Array(opts.batchSize)
  }

  get state (): 'idle' | 'consuming' | 'stopped' { return this.#state }

  async start (consumer: Consumer): Promise<ConsumerMessages> {
    // Consuming before the first message can arrive: consume() may deliver before it resolves.
    this.#state = 'consuming'
    // Pull credit of two batches keeps a batch arriving while the previous one is cut.
    this.#messages = await consumer.consume({
      max_messages: this.#opts.batchSize * 2,
      callback: (m) => this.#onMessage(m),
    })
    return this.#messages
  }

  #onMessage (m: JsMsg): void {
    if (this.#state !== 'consuming') {
      nakNow([m])
      return
    }
    const data = m.data
    const n = this.#msgs.length
    if (this.#pos + data.length > this.#bytes.length) this.#grow(data.length)
    this.#bytes.set(data, this.#pos)
    this.#pos += data.length
    this.#offsets[n + 1] = this.#pos
    this.#readReply(m, n)
    this.#msgs.push(m)
    if (n === 0) {
      this.#firstAt = Date.now()
      this.#linger = setTimeout(() => this.flush(), this.#opts.lingerMs)
    }
    if (n + 1 >= this.#opts.batchSize) this.flush()
  }

  /** Stream sequence, delivery count and pending from the reply subject, without nats.js's generic split. */
  #readReply (m: JsMsg, n: number): void {
    // JsMsg's type hides `reply`, but nats.js's message object has it; without it, use the generic parse.
    const reply = (m as JsMsg & { readonly reply?: string }).reply
    if (reply?.startsWith(this.#replyPrefix) === true) {
      let p = this.#replyPrefix.length
      let delivered = 0
      let c = reply.charCodeAt(p)
      while (c !== 46) { delivered = delivered * 10 + c - 48; c = reply.charCodeAt(++p) }
      let seq = 0
      c = reply.charCodeAt(++p)
      while (c !== 46) { seq = seq * 10 + c - 48; c = reply.charCodeAt(++p) }
      this.#seq[n] = seq
      if (delivered > 1) this.#redelivered++
      if (n + 1 === this.#opts.batchSize) this.#pending = Number(reply.slice(reply.lastIndexOf('.') + 1))
    } else {
      const info = m.info
      this.#seq[n] = info.streamSequence
      if (info.redelivered) this.#redelivered++
      this.#pending = info.pending
    }
  }

  #grow (need: number): void {
    const next = new Uint8Array(Math.max(this.#bytes.length * 2, this.#pos + need))
    next.set(this.#bytes.subarray(0, this.#pos))
    this.#bytes = next
  }

  /** Hands on the batch being filled, if any. */
  flush (): void {
    if (this.#linger !== undefined) {
      clearTimeout(this.#linger)
      this.#linger = undefined
    }
    const count = this.#msgs.length
    if (count === 0) return
    const last = this.#msgs[count - 1] as JsMsg
    if (count < this.#opts.batchSize) this.#pending = last.info.pending
    const batch: IngestBatch = {
      msgs: this.#msgs,
      raw: { bytes: this.#bytes.subarray(0, this.#pos), offsets: this.#offsets.subarray(0, count + 1), count, maxPayloadBytes: this.#opts.maxPayloadBytes },
      streamSeq: this.#seq.subarray(0, count),
      redelivered: this.#redelivered,
      pendingAfter: this.#pending,
      receivedAt: this.#firstAt,
    }
    // The buffers now belong to the batch (they are transferred to a worker): start fresh ones.
    const avg = Math.ceil(this.#pos / count)
    this.#msgs = []
    this.#bytes = new Uint8Array(Math.max(4096, Math.ceil(avg * this.#opts.batchSize * 1.25)))
    this.#offsets = new Uint32Array(this.#opts.batchSize + 1)
    this.#seq = new Float64Array(this.#opts.batchSize)
    this.#pos = 0
    this.#redelivered = 0
    this.#onBatch(batch)
  }

  /** Stops pulling and hands on the partial batch. Idempotent. */
  async stop (): Promise<void> {
    if (this.#state === 'stopped') return
    const wasConsuming = this.#state === 'consuming'
    this.#state = 'stopped'
    this.flush()
    if (wasConsuming && this.#messages !== undefined) {
      await this.#messages.close().catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'closing the pull subscription failed'))
    }
  }
}

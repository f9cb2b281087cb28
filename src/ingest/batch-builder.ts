/**
 * Packs delivered messages into batches: payloads copied back to back into one buffer (later
 * transferred to a parser worker), with offsets, reply subjects (the ack handles) and stream
 * sequences alongside. A batch is handed on when it holds batchSize messages, when the next payload
 * would not fit in maxBatchBytes, or lingerMs after its first message, whichever comes first, so a
 * quiet plant still sees its data quickly — but a partial batch is only handed on when the pipeline
 * can take it at once (`ready()`, ingest/admission.ts): under load the linger would otherwise cut
 * batches to a fraction of batchSize while they queue anyway (measured: 2,000–3,500 of 5,000). It
 * waits for offer() (the pipeline's wake) then, at most maxHoldMs (it gets no progress acks here).
 *
 * Memory: a batch's payload buffer never exceeds max(maxBatchBytes, maxPayloadBytes), whatever the
 * previous batch looked like. A payload over maxPayloadBytes is never copied whole: only its first
 * OVERSIZED_PREFIX_BYTES go into the batch, with its length and SHA-256 beside it (its dead letter).
 */
import { createHash } from 'node:crypto'
import type { OversizedPayload, RawBatch } from '../contracts.js'
import { AckReplyReader } from './ack-reply.js'

/** Bytes of an oversized payload kept for its dead letter (at most nats.max_payload_bytes). */
export const OVERSIZED_PREFIX_BYTES = 1024
/** Smallest buffer a batch starts with; it doubles (up to the bound) as payloads arrive. */
const MIN_BUFFER = 65_536

export interface IngestBatch {
  /** Reply subject of message i: the only handle that can ack, nak or term it. */
  readonly replies: string[]
  readonly subjects: string[]
  readonly raw: RawBatch
  /** Stream sequence of each message (ledger, dead letters). */
  readonly streamSeq: Float64Array
  /** How many messages JetStream marked as redelivered. */
  readonly redelivered: number
  /** Highest delivery count among the batch's messages (1 = all first deliveries). */
  readonly maxDelivered: number
  /** Stream messages not yet delivered to the consumer, as of the batch's last message. */
  readonly pendingAfter: number
  readonly receivedAt: number
}

export interface BatchOptions {
  /** A partial batch waits at most this long past its linger for the pipeline to have room. */
  readonly maxHoldMs: number
  readonly stream: string
  readonly consumer: string
  readonly batchSize: number
  readonly lingerMs: number
  readonly maxPayloadBytes: number
  /** Payload bytes per batch (raised to maxPayloadBytes, so any acceptable payload fits alone). */
  readonly maxBatchBytes: number
}

export class BatchBuilder {
  readonly #opts: BatchOptions
  readonly #onBatch: (b: IngestBatch) => void
  readonly #reply: AckReplyReader
  #replies: string[] = []
  #subjects: string[] = []
  #bytes: Uint8Array
  #offsets: Uint32Array
  #seq: Float64Array
  #oversized: OversizedPayload[] = []
  /** Upper bound of #bytes.length. */
  readonly #capacity: number
  readonly #prefixBytes: number
  #pos = 0
  #redelivered = 0
  #maxDelivered = 1
  #lastReply = ''
  #firstAt = 0
  #linger: NodeJS.Timeout | undefined
  #lingerDue = false

  readonly #ready: () => boolean
  readonly #onError: (err: unknown) => void

  /** `onError`: an exception in a linger timer (it would otherwise be uncaught and end the process). */
  constructor (opts: BatchOptions, onBatch: (b: IngestBatch) => void, ready: () => boolean, onError: (err: unknown) => void) {
    this.#opts = opts
    this.#onBatch = onBatch
    this.#ready = ready
    this.#onError = onError
    this.#reply = new AckReplyReader(opts.stream, opts.consumer)
    this.#capacity = Math.max(opts.maxBatchBytes, opts.maxPayloadBytes)
    this.#prefixBytes = Math.min(OVERSIZED_PREFIX_BYTES, opts.maxPayloadBytes)
    this.#bytes = new Uint8Array(this.#nextSize(opts.batchSize * 256))
    this.#offsets = new Uint32Array(opts.batchSize + 1)
    this.#seq = new Float64Array(opts.batchSize)
  }

  /** Messages and payload bytes in the batch being filled (they count against the pipeline's grant). */
  get count (): number { return this.#replies.length }
  get bytes (): number { return this.#pos }

  add (data: Uint8Array, reply: string, subject: string): void {
    const over = data.length > this.#opts.maxPayloadBytes
    const size = over ? this.#prefixBytes : data.length
    if (this.#replies.length > 0 && this.#pos + size > this.#capacity) this.flush()
    const n = this.#replies.length
    if (this.#pos + size > this.#bytes.length) this.#grow(size)
    if (over) {
      this.#oversized.push({ index: n, length: data.length, sha256: createHash('sha256').update(data).digest('hex') })
      this.#bytes.set(data.subarray(0, size), this.#pos)
    } else {
      this.#bytes.set(data, this.#pos)
    }
    this.#pos += size
    this.#offsets[n + 1] = this.#pos
    this.#reply.read(reply)
    this.#seq[n] = this.#reply.seq
    if (this.#reply.delivered > 1) this.#countRedelivery(this.#reply.delivered)
    this.#lastReply = reply
    this.#replies.push(reply)
    this.#subjects.push(subject)
    if (n === 0) {
      this.#firstAt = Date.now()
      this.#linger = setTimeout(() => this.#lingered(), this.#opts.lingerMs)
    }
    if (n + 1 >= this.#opts.batchSize) this.flush()
  }

  #countRedelivery (delivered: number): void {
    this.#redelivered++
    if (delivered > this.#maxDelivered) this.#maxDelivered = delivered
  }

  /** A buffer size for `want` bytes: at least MIN_BUFFER, never above the bound. */
  #nextSize (want: number): number {
    return Math.min(this.#capacity, Math.max(MIN_BUFFER, Math.ceil(want)))
  }

  #grow (need: number): void {
    const next = new Uint8Array(this.#nextSize(Math.max(this.#bytes.length * 2, this.#pos + need)))
    next.set(this.#bytes.subarray(0, this.#pos))
    this.#bytes = next
  }

  #lingered (): void {
    this.#linger = undefined
    try {
      this.#lingerCheck()
    } catch (err) {
      // The batch stays unacked: JetStream redelivers it after ack_wait.
      this.#onError(err)
    }
  }

  #lingerCheck (): void {
    if (this.#ready() || Date.now() - this.#firstAt >= this.#opts.lingerMs + this.#opts.maxHoldMs) {
      this.flush()
      return
    }
    this.#lingerDue = true
    this.#linger = setTimeout(() => this.#lingered(), Math.min(this.#opts.maxHoldMs, 100))
  }

  /** The pipeline would start a batch now: hand on a partial batch whose linger has passed. */
  offer (): void {
    if (this.#lingerDue) this.flush()
  }

  /** Hands on the batch being filled, if any. */
  flush (): void {
    this.#lingerDue = false
    if (this.#linger !== undefined) {
      clearTimeout(this.#linger)
      this.#linger = undefined
    }
    const count = this.#replies.length
    if (count === 0) return
    const batch: IngestBatch = {
      replies: this.#replies,
      subjects: this.#subjects,
      raw: {
        bytes: this.#bytes.subarray(0, this.#pos),
        offsets: this.#offsets.subarray(0, count + 1),
        count,
        maxPayloadBytes: this.#opts.maxPayloadBytes,
        ...(this.#oversized.length > 0 ? { oversized: this.#oversized } : {}),
      },
      streamSeq: this.#seq.subarray(0, count),
      redelivered: this.#redelivered,
      maxDelivered: this.#maxDelivered,
      pendingAfter: this.#reply.pending(this.#lastReply),
      receivedAt: this.#firstAt,
    }
    // The buffers now belong to the batch (they are transferred to a worker): start fresh ones, sized
    // for a full batch of payloads like these (no regrowth under load), never above the bound.
    const avg = this.#pos / count
    this.#replies = []
    this.#subjects = []
    this.#oversized = []
    this.#bytes = new Uint8Array(this.#nextSize(avg * this.#opts.batchSize * 1.25))
    this.#offsets = new Uint32Array(this.#opts.batchSize + 1)
    this.#seq = new Float64Array(this.#opts.batchSize)
    this.#pos = 0
    this.#redelivered = 0
    this.#maxDelivered = 1
    this.#onBatch(batch)
  }
}

/**
 * Packs delivered messages into batches: payloads copied back to back into one buffer (later
 * transferred to a parser worker), with offsets, reply subjects (the ack handles) and stream
 * sequences alongside. A batch is handed on when it holds batchSize messages, when the next payload
 * would not fit in maxBatchBytes, or lingerMs after its first message, whichever comes first, so a
 * quiet plant still sees its data quickly — but a partial batch is only handed on when the pipeline
 * can take it at once (`ready()`): under load the linger would otherwise cut batches to a fraction of
 * batchSize while they queue anyway (measured: 2,000–3,500 of 5,000). It waits for offer() then, at
 * most maxHoldMs (it gets no progress acks here).
 *
 * Memory: a batch's payload buffer never exceeds max(maxBatchBytes, maxPayloadBytes), whatever the
 * previous batch looked like. A payload over maxPayloadBytes is never copied whole: only its first
 * OVERSIZED_PREFIX_BYTES go into the batch, with its length and SHA-256 beside it (its dead letter).
 */
import { createHash } from 'node:crypto'
import type { OversizedPayload, RawBatch } from '../contracts.js'

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

const DOT = 46
const ZERO = 48

export class BatchBuilder {
  readonly #opts: BatchOptions
  readonly #onBatch: (b: IngestBatch) => void
  /** `$JS.ACK.<stream>.<consumer>.`: nats-server 2.9's reply prefix; the numbers follow. */
  readonly #replyPrefix: string
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
  #pending = 0
  #lastFast = false
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
    this.#replyPrefix = `$JS.ACK.${opts.stream}.${opts.consumer}.`
    this.#capacity = Math.max(opts.maxBatchBytes, opts.maxPayloadBytes)
    this.#prefixBytes = Math.min(OVERSIZED_PREFIX_BYTES, opts.maxPayloadBytes)
    this.#bytes = new Uint8Array(this.#nextSize(opts.batchSize * 256))
    this.#offsets = new Uint32Array(opts.batchSize + 1)
    this.#seq = new Float64Array(opts.batchSize)
  }

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
    this.#readReply(reply, n)
    this.#replies.push(reply)
    this.#subjects.push(subject)
    if (n === 0) {
      this.#firstAt = Date.now()
      this.#linger = setTimeout(() => this.#lingered(), this.#opts.lingerMs)
    }
    if (n + 1 >= this.#opts.batchSize) this.flush()
  }

  /**
   * Delivery count, stream sequence and pending count from the reply subject. nats-server 2.9 sends
   * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`: parsed forward from the known
   * prefix without allocating (this runs per message). Other layouts (newer servers insert
   * `<domain>.<account hash>.` and append a token) take the generic split.
   */
  #readReply (reply: string, n: number): void {
    if (reply.startsWith(this.#replyPrefix)) {
      const end = reply.length // a truncated subject must not loop past its end
      let p = this.#replyPrefix.length
      let delivered = 0
      let c = reply.charCodeAt(p)
      while (c !== DOT && p < end) { delivered = delivered * 10 + c - ZERO; c = reply.charCodeAt(++p) }
      let seq = 0
      c = reply.charCodeAt(++p)
      while (c !== DOT && p < end) { seq = seq * 10 + c - ZERO; c = reply.charCodeAt(++p) }
      this.#seq[n] = seq
      if (delivered > 1) this.#countRedelivery(delivered)
      this.#lastFast = true
      this.#lastReply = reply
      return
    }
    const t = reply.split('.')
    const base = t.length === 9 ? 2 : 4 // 9 tokens: 2.9 layout; 11–12: with domain and account hash
    this.#seq[n] = Number(t[base + 3])
    const delivered = Number(t[base + 2])
    if (delivered > 1) this.#countRedelivery(delivered)
    this.#lastFast = false
    this.#pending = Number(t[base + 6])
  }

  #countRedelivery (delivered: number): void {
    this.#redelivered++
    if (delivered > this.#maxDelivered) this.#maxDelivered = delivered
  }

  /** Pending count of the batch's last message (parsed once per batch, not per message). */
  #lastPending (): number {
    if (!this.#lastFast) return this.#pending
    const r = this.#lastReply
    const end = r.length
    let p = r.lastIndexOf('.', end - 1) + 1
    let v = 0
    for (; p < end; p++) v = v * 10 + r.charCodeAt(p) - ZERO
    return v
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

  /** The pipeline has room: hand on a partial batch whose linger has passed. */
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
      pendingAfter: this.#lastPending(),
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

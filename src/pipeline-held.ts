/**
 * The batches the pipeline holds (taken in, not yet settled), and what follows from them:
 *
 *   grant  = bound − held (messages, payload bytes): what the source may still pull (ingest/admission.ts)
 *   keep-alive: a held message gets +WPI once ack_wait/3 passed since its last signal (checked every
 *               ack_wait/6), so it is extended at most ack_wait/2 after it, leaving half of ack_wait for
 *               event-loop lag under load
 *   stall: how long the oldest held batch has waited without any commit (/readyz)
 */
import type { Grant } from './ingest/admission.js'
import type { IngestBatch } from './ingest/batch-builder.js'
import type { ParsedBatch } from './contracts.js'
import type { Attempts } from './write/retry.js'

export interface Held extends Attempts {
  readonly batch: IngestBatch
  /** Payload bytes as taken in (the raw buffer is transferred to a worker later). */
  readonly bytes: number
  lastSignal: number
  /** Kept when a batch is held for retry: its raw buffers went to the worker and are not coming back. */
  parsed?: ParsedBatch
  /** 1 = message already settled (a bisection committed part of the batch). */
  settled?: Uint8Array
}

const UNBOUNDED: Grant = Object.freeze({ messages: Infinity, bytes: Infinity })

export class HeldBatches {
  readonly #set = new Set<Held>()
  readonly #bound: Grant
  readonly #grant = { messages: Infinity, bytes: Infinity }
  readonly #timer: NodeJS.Timeout
  #messages = 0
  #bytes = 0
  #shut = false

  /** `keepAlive`: +WPI for the messages of `h` not settled yet. */
  constructor (bound: Grant | undefined, ackWaitMs: number, keepAlive: (h: Held) => void) {
    this.#bound = bound ?? UNBOUNDED
    this.#update()
    const due = ackWaitMs / 3
    this.#timer = setInterval(() => {
      const now = Date.now()
      for (const h of this.#set) {
        if (now - h.lastSignal >= due) {
          keepAlive(h)
          h.lastSignal = now
        }
      }
    }, Math.max(250, Math.floor(ackWaitMs / 6)))
    this.#timer.unref()
  }

  /** Live: what may still be taken in (0 once shut). */
  get grant (): Grant { return this.#grant }
  get size (): number { return this.#set.size }

  add (batch: IngestBatch): Held {
    const held: Held = { batch, bytes: batch.raw.bytes.byteLength, lastSignal: batch.receivedAt, sameFailures: 0 }
    this.#set.add(held)
    this.#messages += batch.replies.length
    this.#bytes += held.bytes
    this.#update()
    return held
  }

  delete (held: Held): void {
    if (!this.#set.delete(held)) return
    this.#messages -= held.batch.replies.length
    this.#bytes -= held.bytes
    this.#update()
  }

  /** How long messages taken in have waited without any batch committing (0 when none wait). */
  stalledForMs (now: number, lastCommitAt: number): number {
    let oldest = Infinity
    for (const h of this.#set) oldest = Math.min(oldest, h.batch.receivedAt)
    return oldest === Infinity ? 0 : Math.max(0, now - Math.max(oldest, lastCommitAt))
  }

  /** No more batches are taken in; keep-alives stop. */
  shut (): void {
    this.#shut = true
    clearInterval(this.#timer)
    this.#update()
  }

  #update (): void {
    this.#grant.messages = this.#shut ? 0 : Math.max(0, this.#bound.messages - this.#messages)
    this.#grant.bytes = this.#shut ? 0 : Math.max(0, this.#bound.bytes - this.#bytes)
  }
}

/**
 * The pull source's credit: what it has asked JetStream for and not yet received, and the next
 * request the pipeline's grant allows (ingest/admission.ts).
 *
 *   ask  = min(2 batches, grant.messages − owed − building)   once owed < 1 batch; none if ask ≤ 0, or
 *          if ask < 1 batch while a request is still open (wait for the wake rather than ask slivers)
 *   max_bytes = clamp(grant.bytes − owedBytes − buildingBytes, one whole message, 2 × max(max_batch_bytes,
 *          server max_payload) + overhead); none if that room is ≤ 0
 *
 * One whole message (the larger of nats.max_payload_bytes and the server's max_payload, plus subject
 * and headers) always fits, so no request can end for size alone with nothing delivered; the server
 * ends a request that reaches max_bytes with 409 "Message Size Exceeds MaxBytes", a normal end. Without
 * a byte bound a pull of 10,000 batched payloads of 27 KB is 275 MB owed at once: nats-server cuts the
 * connection as a slow consumer. owedBytes counts payloads only (the server counts a little more), so
 * it is forgotten whenever nothing is owed.
 */
import { nanos } from '@nats-io/transport-node'
import type { Grant } from './admission.js'

export const EXPIRES_MS = 5_000
export const HEARTBEAT_MS = 1_000
/** Subject, reply and headers of a message, beyond its payload, as max_bytes counts them (generous). */
const OVERHEAD_BYTES = 65_536

export interface CreditOptions {
  readonly batchSize: number
  readonly maxPayloadBytes: number
  readonly maxBatchBytes: number
}

export class PullCredit {
  readonly #o: CreditOptions
  /** The request for two full batches at the byte cap (the common one, built once per connection). */
  #fullPull = ''
  #maxPullBytes = 0
  #oneMessageBytes = 0
  #owed = 0
  #owedBytes = 0

  constructor (opts: CreditOptions, serverMaxPayload: number) {
    this.#o = opts
    this.size(serverMaxPayload)
  }

  /** Messages asked for and not yet delivered. */
  get owed (): number { return this.#owed }

  /** Request sizes follow the server's max_payload (read again after a reconnect). */
  size (serverMaxPayload: number): void {
    this.#oneMessageBytes = Math.max(this.#o.maxPayloadBytes, serverMaxPayload) + OVERHEAD_BYTES
    this.#maxPullBytes = 2 * Math.max(this.#o.maxBatchBytes, serverMaxPayload) + OVERHEAD_BYTES
    this.#fullPull = body(this.#o.batchSize * 2, this.#maxPullBytes)
  }

  /** The request to send now (counted as owed), or undefined (enough owed, or nothing granted). */
  next (grant: Grant, building: number, buildingBytes: number): string | undefined {
    const size = this.#o.batchSize
    if (this.#owed >= size) return undefined
    const messages = Math.min(2 * size, grant.messages - this.#owed - building)
    if (messages <= 0 || (messages < size && this.#owed > 0)) return undefined
    const room = grant.bytes - this.#owedBytes - buildingBytes
    if (room <= 0) return undefined
    const bytes = Math.min(this.#maxPullBytes, Math.max(room, this.#oneMessageBytes))
    this.#owed += messages
    this.#owedBytes += bytes
    return messages === 2 * size && bytes === this.#maxPullBytes ? this.#fullPull : body(messages, bytes)
  }

  /** One message of `bytes` payload arrived (per message: arithmetic only). */
  delivered (bytes: number): void {
    this.#owedBytes -= bytes
    if (--this.#owed <= 0) this.forget()
  }

  /** A request ended (408, 409) with this much it will never deliver. */
  ended (messages: number, bytes: number): void {
    if (messages > 0) this.#owed = Math.max(0, this.#owed - messages)
    if (bytes > 0) this.#owedBytes = Math.max(0, this.#owedBytes - bytes)
    if (this.#owed === 0) this.forget()
  }

  /** No request is open any more (or none the server still knows). */
  forget (): void {
    this.#owed = 0
    this.#owedBytes = 0
  }
}

function body (batch: number, maxBytes: number): string {
  return JSON.stringify({ batch, max_bytes: maxBytes, expires: nanos(EXPIRES_MS), idle_heartbeat: nanos(HEARTBEAT_MS) })
}

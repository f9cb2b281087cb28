/**
 * The types that cross stages.
 *
 *   ingest ─RawBatch─▶ parse ─ParsedBatch─▶ write ─CommitResult─▶ ack
 *
 * Message `i` of a batch is identified by its index in the batch everywhere; the ingest side keeps
 * the JetStream handles (and so the only way to ack) under the same index.
 */
import type { RejectCode } from './errors.js'

/** What the main thread hands a parser worker: payload bytes packed back to back. */
export interface RawBatch {
  /** Payload of message i is bytes[offsets[i] .. offsets[i + 1]). Its buffer is transferred, not copied. */
  readonly bytes: Uint8Array
  /** count + 1 offsets; its buffer is transferred too. */
  readonly offsets: Uint32Array
  readonly count: number
  readonly maxPayloadBytes: number
  /** Messages over maxPayloadBytes, in index order: only a prefix of each is in `bytes`. */
  readonly oversized?: readonly OversizedPayload[]
}

/** What is kept of a payload over nats.max_payload_bytes: its first bytes (in the batch) and these. */
export interface OversizedPayload {
  readonly index: number
  /** Length of the whole payload as delivered. */
  readonly length: number
  /** SHA-256 of the whole payload, hex. */
  readonly sha256: string
}

export interface Rejection {
  /** Index of the message in its batch. */
  readonly index: number
  /**
   * For an array payload: the element refused (the message's other elements are rows, and the
   * message is acked, not terminated). Absent: the whole message is refused.
   */
  readonly element?: number
  readonly code: RejectCode
  readonly detail: string
}

/** A worker's answer: the valid readings as binary COPY tuples, and every other message with its reason. */
export interface ParsedBatch {
  /** Binary COPY tuples, without header and trailer. */
  readonly copy: Uint8Array
  /** Row r occupies copy[rowEnds[r - 1] ?? 0 .. rowEnds[r]). */
  readonly rowEnds: Uint32Array
  /** Message index of row r (an array payload gives several rows the same message). */
  readonly rowMessage: Uint32Array
  /** Row r's JSON text is bytes[rowSpan[2r] .. rowSpan[2r + 1]) (its message, or its array element). */
  readonly rowSpan: Uint32Array
  /** Reading time of row r, ms since 1970 (for the publish→commit latency histogram). */
  readonly rowTimeMs: Float64Array
  /** Machine of row r, as an index into `machines` (the batch's distinct machine ids). */
  readonly rowMachine: Uint32Array
  readonly machines: readonly string[]
  readonly rejections: readonly Rejection[]
  /** The RawBatch's payload bytes and offsets, moved back to the main thread (dead letters, live feed). */
  readonly bytes: Uint8Array
  readonly offsets: Uint32Array
}

/** One committing transaction's outcome (a whole batch, or one part of a bisected batch). */
export interface Committed {
  /** Rows this transaction added to sensor_data. */
  readonly rows: number
  /** Messages dead-lettered by this transaction. */
  readonly rejections: readonly Rejection[]
  /** Indices of messages an earlier transaction had already committed (redeliveries): ack only. */
  readonly alreadyCommitted: readonly number[]
  readonly durationMs: number
  /** With BatchMeta.ackFloor: the ledger's contiguous floor as this transaction saw it (ack/ack-floor.ts). */
  readonly through?: number
  /** The live feed's commit number of this transaction (live_commits, commit order). */
  readonly commitNo: number
}

/** What the writer reports: the batch committed (with any rows PostgreSQL refused), or nothing did. */
export type CommitResult =
  | ({ readonly type: 'committed' } & Committed)
  | { readonly type: 'failed', readonly error: Error }

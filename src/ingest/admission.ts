/**
 * The one hand-off between the pull source and the pipeline.
 *
 *   pipeline ── grant (messages, bytes it takes beyond what it holds) ──▶ source
 *   source   ── pulls at most grant − owed − building from JetStream
 *   source   ── batch (full, or past its linger when ready()) ─▶ identity gate ─▶ pipeline.accept
 *   pipeline ── wake() when a batch it held ends (grant grew) ──────────▶ source: hands on a lingering
 *                                                                         partial batch if ready(), pulls
 *
 * The pipeline's bound is that of the consumer's max_ack_pending: every batch in flight plus the one
 * filling (batch_size × (max_in_flight + 1) messages), so nothing is pulled that would only wait in a
 * queue, and a database outage stops pulling once that much is held (the rest stays in the stream).
 * Bytes are a soft bound: a pull may always carry one whole message, so it may overshoot by one.
 * The identity gate holds a batch for one or two round trips; those messages count on neither side.
 */
import type { IngestBatch } from './batch-builder.js'

/** Where the source hands its batches (the identity gate, then Pipeline.accept): each settled once. */
export type BatchSink = (batch: IngestBatch) => void

/** Messages and payload bytes. */
export interface Grant { readonly messages: number, readonly bytes: number }

/** The pipeline as the source sees it. */
export interface Admission {
  /** What the pipeline takes beyond what it holds now: a live view, read without a call. */
  readonly grant: Grant
  /** A batch handed on now would start at once. */
  readonly ready: () => boolean
  /** The one function to call whenever grant or ready() may have grown. */
  onGrant (wake: () => void): void
}

/** The pipeline's bound: every batch in flight plus the one filling (as the consumer's max_ack_pending). */
export function pipelineBound (batchSize: number, maxInFlight: number, maxBatchBytes: number): Grant {
  return { messages: batchSize * (maxInFlight + 1), bytes: maxBatchBytes * (maxInFlight + 1) }
}

const UNBOUNDED: Grant = Object.freeze({ messages: Infinity, bytes: Infinity })

/** A consumer that takes whatever arrives (tests, tools): only the linger question is asked. */
export function unbounded (ready: () => boolean): Admission {
  return { grant: UNBOUNDED, ready, onGrant () {} }
}

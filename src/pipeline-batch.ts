/**
 * Per held batch, either side of its write (per batch, never per message):
 *
 *   writeInput     the rows not settled yet, and the BatchMeta the writer needs (ledger key,
 *                  sequences, dead letters, ack floor)
 *   observeCommit  what a commit leaves besides its acks: its metrics, and the rows it added
 *                  (for the live feed)
 */
import type { Committed, ParsedBatch, Rejection } from './contracts.js'
import type { Metrics } from './metrics.js'
import type { Held } from './pipeline-held.js'
import { withoutMessages, type BatchMeta } from './write/copy-writer.js'
import type { DeadLetter } from './write/dead-letters.js'

export interface WriteInput {
  /** The parsed batch without its settled messages. */
  readonly part: ParsedBatch
  readonly meta: BatchMeta
  /** 1 = to be settled by this write (absent: every message). */
  readonly include: Uint8Array | undefined
}

/** `ackFloor`: Settler.ackFloor (ack policy all), else undefined. */
export function writeInput (held: Held, parsed: ParsedBatch, streamKey: string, ackFloor: number | undefined): WriteInput {
  const { batch, settled } = held
  const deadLetterFor = (r: Rejection): DeadLetter => ({
    subject: batch.subjects[r.index] ?? '',
    streamSeq: batch.streamSeq[r.index] ?? null,
    reason: r.code,
    detail: r.detail,
    payload: parsed.bytes.subarray(parsed.offsets[r.index], parsed.offsets[r.index + 1]),
  })
  const include = settled?.map((v) => 1 - v)
  const meta: BatchMeta = { streamKey, streamSeq: batch.streamSeq, deadLetterFor, ...(include === undefined ? {} : { include }), ...(ackFloor === undefined ? {} : { ackFloor }) }
  return { part: settled === undefined ? parsed : withoutMessages(parsed, settled), meta, include }
}

/**
 * Records the commit in `metrics`; returns the rows it added: not those of messages committed earlier
 * (ledger), refused by PostgreSQL, or outside `only` (1 = settled by this commit; absent: all).
 */
export function observeCommit (metrics: Metrics, parsed: ParsedBatch, messages: number, r: Committed, only: Uint8Array | undefined, now: number): ParsedBatch {
  metrics.committed.inc(r.rows)
  if (r.alreadyCommitted.length > 0) metrics.duplicates.inc(r.alreadyCommitted.length)
  for (const j of r.rejections) metrics.rejected.inc({ reason: j.code })
  metrics.batchSize.observe(messages)
  metrics.commitDuration.observe(r.durationMs / 1000)
  metrics.lastCommit.set(now / 1000)
  const drop = only === undefined ? new Uint8Array(messages) : only.map((v) => 1 - v)
  for (const i of r.alreadyCommitted) drop[i] = 1
  // A refused array element never became a row: its message's other rows stay.
  for (const j of r.rejections) if (j.element === undefined) drop[j.index] = 1
  const added = drop.some((v) => v === 1) ? withoutMessages(parsed, drop) : parsed
  const times = added.rowTimeMs
  for (let k = 0; k < times.length; k++) metrics.publishToCommit.observe((now - (times[k] as number)) / 1000)
  return added
}

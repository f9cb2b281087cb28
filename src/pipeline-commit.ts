/**
 * What a committed batch (or committed part of one) leaves behind besides its acks: the metrics of
 * the commit, and the rows it added (for the live feed). Per batch, never per message.
 */
import type { ParsedBatch, Rejection } from './contracts.js'
import type { Metrics } from './metrics.js'
import { withoutMessages } from './write/copy-writer.js'

/** The committed part of a CommitResult (whole batch or a bisected part). */
export interface Committed {
  readonly rows: number
  readonly rejections: readonly Rejection[]
  readonly alreadyCommitted: readonly number[]
  readonly durationMs: number
  readonly through?: number
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

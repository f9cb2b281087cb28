/**
 * Drops ingest-ledger ranges that can never be needed again: a range at or below the consumer's
 * ack floor is never redelivered, and identities of streams replaced long ago are never read.
 *
 * Invariants:
 * - A range lives at least 2 × the longest redelivery delay + 15 minutes, and nothing is pruned until
 *   the service has run that long: messages pending from before a restart come back first.
 * - While the stream or consumer is being replaced (`streamProblem()` not null) nothing is pruned:
 *   the floor may belong to another stream.
 * - The floor is used only if the stream identity read before asking for it is still current.
 * The same rounds drop live_commits rows older than live.resume_max_age_s (a resume from them is
 * refused anyway; sql/004_live_commits.sql).
 */
import type { Logger } from 'pino'
import { pruneLedger, pruneLiveCommits, pruneOldIdentities } from './ledger.js'
import type { SqlClient } from './sql-client.js'

export const LEDGER_PRUNE_EVERY_MS = 30_000

export interface LedgerPruningOptions {
  readonly db: SqlClient
  /** The JetStream stream's name (identities of older streams by that name are dropped). */
  readonly stream: string
  readonly ackWaitMs: number
  readonly backoffMs: readonly number[]
  /** The current ledger key (stream identity). */
  readonly streamKey: () => string
  /** Why the stream identity is in doubt, or null while it is settled. */
  readonly streamProblem: () => string | null
  /** The consumer's ack floor (stream sequence), asked of JetStream each round. */
  readonly ackFloor: () => Promise<number>
  /** live.resume_max_age_s: live_commits rows older than this are dropped. */
  readonly liveCommitsMaxAgeS: number
  readonly log: Logger
}

export class LedgerPruning {
  readonly #o: LedgerPruningOptions
  readonly #minAgeMs: number
  #timer: NodeJS.Timeout | undefined

  constructor (o: LedgerPruningOptions) {
    this.#o = o
    this.#minAgeMs = 2 * Math.max(o.ackWaitMs, ...o.backoffMs) + 15 * 60_000
  }

  start (): void {
    if (this.#timer !== undefined) return
    const startedAt = Date.now()
    this.#timer = setInterval(() => {
      if (Date.now() - startedAt < this.#minAgeMs) return
      this.#round().catch((err: unknown) => this.#o.log.warn({ err: (err as Error).message }, 'ledger pruning failed; will retry'))
    }, LEDGER_PRUNE_EVERY_MS)
    this.#timer.unref()
  }

  close (): void {
    clearInterval(this.#timer)
  }

  async #round (): Promise<void> {
    const o = this.#o
    const commits = await pruneLiveCommits(o.db, o.liveCommitsMaxAgeS)
    if (commits > 0) o.log.debug({ commits }, 'pruned live commits')
    if (o.streamProblem() != null) return
    const key = o.streamKey()
    const floor = await o.ackFloor()
    if (key !== o.streamKey()) return
    const pruned = await pruneLedger(o.db, key, floor, this.#minAgeMs) + await pruneOldIdentities(o.db, o.stream, key, this.#minAgeMs)
    if (pruned > 0) o.log.debug({ pruned, ackFloor: floor }, 'pruned ingest ledger')
  }
}

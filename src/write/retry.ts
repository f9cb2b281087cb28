/**
 * How a failed batch write is judged, and when it is tried again (used by pipeline.ts).
 *
 *   SQLSTATE says 'away'                          → database refusing writes: retry, never blame rows
 *   otherwise a probe write (rolled back) decides: refused → away
 *                                                  accepted → these rows; after max_write_attempts
 *                                                  identical failures, bisect (isolate.ts)
 *
 * Backoff: 250 ms doubling to the cap, with equal jitter (half to all of the step), so instances
 * that failed together do not retry in lockstep.
 */
import { classifyPgError, failureSignature } from './sqlstate.js'

/** What a held batch remembers of its failures. */
export interface Attempts {
  lastFailure?: string
  sameFailures: number
  /** Bisect on the next attempt, blaming this failure signature. */
  isolate?: string
}

export interface Verdict {
  readonly away: boolean
  readonly signature: string
}

export interface RetryOptions {
  /** A write that is rolled back; resolves when the database takes writes. */
  readonly probeWrite: () => Promise<void>
  readonly maxWriteAttempts: number
  readonly maxBackoffMs: number
}

const FIRST_RETRY_MS = 250

export class WritePolicy {
  readonly #opts: RetryOptions
  /** ms since 1970 of the last probe write the database took. */
  lastProbeOkAt = 0

  constructor (opts: RetryOptions) {
    this.#opts = opts
  }

  /** Reads a failure and records it in `attempts` (setting `isolate` once it repeats enough). */
  async judge (attempts: Attempts, error: Error): Promise<Verdict> {
    const signature = failureSignature(error)
    let away = classifyPgError(error) === 'away'
    if (!away) {
      try {
        await this.#opts.probeWrite()
        this.lastProbeOkAt = Date.now()
      } catch {
        away = true
      }
    }
    attempts.sameFailures = !away && attempts.lastFailure === signature ? attempts.sameFailures + 1 : 1
    attempts.lastFailure = signature
    if (!away && attempts.sameFailures >= this.#opts.maxWriteAttempts) attempts.isolate = signature
    return { away, signature }
  }

  /** Delay before attempt n + 1 after n consecutive failures (n ≥ 1). */
  backoffMs (failures: number): number {
    const step = Math.min(this.#opts.maxBackoffMs, FIRST_RETRY_MS * 2 ** Math.min(failures - 1, 20))
    return step / 2 + Math.random() * step / 2
  }
}

/**
 * /readyz answers from here: the last result of Readiness.check(), refreshed in the background
 * every READY_REFRESH_MS, so any number of unauthenticated callers cost one check per period
 * (before: one `SELECT 1` on the API pool per caller).
 *
 *   idle ──timer or outdated──▶ checking ──answer──▶ idle (result stored)
 *                                  │ no answer within READY_TIMEOUT_MS: result = { readiness: "no answer …" }
 *                                  └ at most one check in flight; callers meanwhile share it
 *
 * Readiness.now(), when given, is evaluated on every request and merged over the stored result:
 * cheap facts (the service started draining) must not wait for the next refresh.
 */
/** What the service reports to /readyz (service.ts implements it). */
export interface Readiness {
  /** null when ready; otherwise what is not, e.g. { database: 'unavailable' }. */
  check (): Promise<Record<string, string> | null>
  /** Facts reported with every answer, e.g. { database_mode: 'timescaledb' }. */
  details (): Record<string, string>
  /**
   * Optional, synchronous and cheap: problems known at once (e.g. { service: 'draining' }), merged
   * over check()'s last answer on every /readyz (check() itself runs in the background, this file).
   */
  now? (): Record<string, string> | null
}

/** How often the stored answer is refreshed. */
export const READY_REFRESH_MS = 1_000
/** A check that has not answered after this long (half-open socket) reports not ready. */
export const READY_TIMEOUT_MS = 3_000

export type Problems = Record<string, string> | null

export class ReadinessCache {
  readonly #readiness: Readiness
  readonly #everyMs: number
  readonly #timeoutMs: number
  #problems: Problems = { readiness: 'not checked yet' }
  /** now() as it was when the stored check started (JSON); another value makes the store outdated. */
  #factsAtCheck = '"unchecked"'
  #checkedAt = 0
  #inflight: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined

  constructor (readiness: Readiness, everyMs = READY_REFRESH_MS, timeoutMs = READY_TIMEOUT_MS) {
    this.#readiness = readiness
    this.#everyMs = everyMs
    this.#timeoutMs = timeoutMs
  }

  start (): void {
    if (this.#timer !== undefined) return
    this.#refresh().catch(() => {})
    this.#timer = setInterval(() => { this.#refresh().catch(() => {}) }, this.#everyMs)
    this.#timer.unref()
  }

  close (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  details (): Record<string, string> { return this.#readiness.details() }

  /**
   * The stored problems (null = ready) with the synchronous ones merged over, and the result's age.
   * When now() changed since the stored check began (start-up finished, draining began), the
   * stored result is outdated: this waits for the next check (shared by all callers, bounded by
   * READY_TIMEOUT_MS) instead of answering from it.
   */
  async current (): Promise<{ problems: Problems, ageMs: number }> {
    let facts = this.#readiness.now?.() ?? null
    if (JSON.stringify(facts) !== this.#factsAtCheck) {
      await this.#refresh()
      facts = this.#readiness.now?.() ?? null
    }
    const problems = facts === null ? this.#problems : { ...(this.#problems ?? {}), ...facts }
    return { problems, ageMs: this.#checkedAt === 0 ? -1 : Date.now() - this.#checkedAt }
  }

  /** Runs check() unless one is in flight (then joins it); never rejects, settles within the timeout. */
  #refresh (): Promise<void> {
    if (this.#inflight !== undefined) return this.#inflight
    const facts = JSON.stringify(this.#readiness.now?.() ?? null)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<Problems>((resolve) => {
      timer = setTimeout(() => resolve({ readiness: `no answer within ${this.#timeoutMs} ms` }), this.#timeoutMs)
    })
    let check: Promise<Problems>
    try {
      check = this.#readiness.check().catch(() => ({ readiness: 'check failed' }))
    } catch {
      check = Promise.resolve({ readiness: 'check failed' })
    }
    // A hung check keeps this slot for the timeout only; its late answer is dropped.
    this.#inflight = Promise.race([check, timeout]).then((p) => {
      clearTimeout(timer)
      this.#problems = p
      this.#factsAtCheck = facts
      this.#checkedAt = Date.now()
      this.#inflight = undefined
    })
    return this.#inflight
  }
}

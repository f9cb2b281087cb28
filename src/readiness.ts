/**
 * What /readyz reports: a record of problems (503 with them in the body) or null (200).
 *
 *   service     starting | draining | closed
 *   nats        disconnected
 *   consumer    the pull source's state when it is not consuming (consumer deleted, stopped)
 *   database    unavailable (SELECT 1 on the API pool fails; on the primary when database.api_url
 *               names a replica, whose state is in the details) | writes refused: <SQLSTATE …>
 *   ingest      stalled: messages wait and no batch has committed for ingest.stall_after_ms
 *   event_loop  blocked for longer than ingest.max_event_loop_delay_ms since the last check
 *
 * check() is cheap and may be called often (or from a background refresher). The event loop is
 * sampled every second (worst delay of that second, and the sampler's own lateness); a block
 * counts for BLOCK_MEMORY_MS after it ended, so a check long after an old start-up pause does not
 * report it.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import type { Pipeline } from './pipeline.js'

export interface ReadinessSources {
  readonly service: () => string
  readonly natsConnected: () => boolean
  /** The pull source's state, undefined before it exists. */
  readonly consumer: () => string | undefined
  readonly pipeline: () => Pipeline | undefined
  /** Stream messages not yet delivered to the consumer (last known). */
  readonly consumerPending: () => Promise<number>
  /** Throws when the database does not answer (or is not connected yet). */
  readonly database: () => Promise<void>
}

export interface ReadinessOptions {
  readonly stallAfterMs: number
  readonly maxEventLoopDelayMs: number
}

const SAMPLE_MS = 1_000
const BLOCK_MEMORY_MS = 5_000

export class Readiness {
  readonly #src: ReadinessSources
  readonly #opts: ReadinessOptions
  readonly #loop: IntervalHistogram
  readonly #sampler: NodeJS.Timeout
  readonly #startedAt = Date.now()
  #blockedMs = 0
  #blockedAt = 0
  #lastTick = Date.now()

  constructor (sources: ReadinessSources, opts: ReadinessOptions) {
    this.#src = sources
    this.#opts = opts
    this.#loop = monitorEventLoopDelay({ resolution: 20 })
    this.#loop.enable()
    this.#sampler = setInterval(() => this.#sample(), SAMPLE_MS)
    this.#sampler.unref()
  }

  /**
   * The worst event-loop delay of the last second. The histogram's reset() also forgets its last
   * tick, so a block starting right after a reset would go unrecorded: the sampler's own lateness
   * covers that case.
   */
  #sample (): void {
    const now = Date.now()
    const late = now - this.#lastTick - SAMPLE_MS
    this.#lastTick = now
    this.#note(Math.max(this.#loop.max / 1e6, late))
    this.#loop.reset()
  }

  #note (ms: number): void {
    if (ms > this.#opts.maxEventLoopDelayMs) {
      this.#blockedMs = ms
      this.#blockedAt = Date.now()
    }
  }

  /**
   * Stalled: messages the pipeline took in have waited past the bound without any commit, or the
   * stream holds undelivered messages and nothing has arrived or committed for that long (deliveries
   * stopped: max_ack_pending held by a frozen peer, pulls lost).
   */
  stalled (pendingInStream = 0, now = Date.now()): boolean {
    const p = this.#src.pipeline()
    if (p === undefined) return false
    if (p.stalledForMs(now) > this.#opts.stallAfterMs) return true
    return pendingInStream > 0 && now - Math.max(p.lastCommitAt, p.lastReceivedAt, this.#startedAt) > this.#opts.stallAfterMs
  }

  async check (): Promise<Record<string, string> | null> {
    const problems: Record<string, string> = {}
    const service = this.#src.service()
    if (service !== 'running') problems.service = service
    if (!this.#src.natsConnected()) problems.nats = 'disconnected'
    const consumer = this.#src.consumer()
    if (consumer !== 'consuming') problems.consumer = consumer ?? 'not started'
    this.#note(this.#loop.max / 1e6)
    if (Date.now() - this.#blockedAt < BLOCK_MEMORY_MS) problems.event_loop = `blocked for ${Math.round(this.#blockedMs)} ms`
    const p = this.#src.pipeline()
    const refusal = p?.refusal
    if (refusal !== undefined) problems.database = `writes refused: ${refusal}`
    else {
      try {
        await this.#src.database()
      } catch {
        problems.database = 'unavailable'
      }
    }
    if (p !== undefined && this.stalled(await this.#src.consumerPending().catch(() => 0))) {
      const now = Date.now()
      const waited = Math.max(p.stalledForMs(now), now - Math.max(p.lastCommitAt, p.lastReceivedAt, this.#startedAt))
      problems.ingest = `stalled: messages wait and nothing committed for ${Math.round(waited / 1000)} s`
    }
    return Object.keys(problems).length === 0 ? null : problems
  }

  close (): void {
    clearInterval(this.#sampler)
    this.#loop.disable()
  }
}

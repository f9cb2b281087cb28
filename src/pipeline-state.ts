/**
 * Every state of the pipeline and every transition, in one table.
 *
 *                 held (write failed, retried)   committed          close()             drained
 *   running       db-down                        running            draining            ·
 *   db-down       db-down                        running            draining-db-down    ·
 *   draining      draining-db-down               draining           ·                   closed
 *   draining-db-down  draining-db-down           draining           ·                   closed
 *   closed        ·                              closed             ·                   ·
 *
 * db-down: one held batch at a time asks the database again; the others wait for its answer.
 * draining: close() was called; what is held is committed or nak'd by the deadline.
 * draining-db-down: close() met a database that is down (or a batch being bisected while draining):
 * the drain ends once nothing is in flight, and the held batches are nak'd.
 * closed: a batch still in flight at the deadline may commit (it is acked); nothing is retried.
 * A "·" is impossible: it throws when `strict` (tests), else it is logged as an error and ignored.
 */
import type { Logger } from 'pino'

export const PipelineState = {
  running: 'running',
  dbDown: 'db-down',
  draining: 'draining',
  drainingDbDown: 'draining-db-down',
  closed: 'closed',
} as const
export type PipelineState = typeof PipelineState[keyof typeof PipelineState]

export type PipelineEvent = 'held' | 'committed' | 'close' | 'drained'

const S = PipelineState
const NEXT: Readonly<Record<PipelineState, Partial<Record<PipelineEvent, PipelineState>>>> = {
  [S.running]: { held: S.dbDown, committed: S.running, close: S.draining },
  [S.dbDown]: { held: S.dbDown, committed: S.running, close: S.drainingDbDown },
  [S.draining]: { held: S.drainingDbDown, committed: S.draining, drained: S.closed },
  [S.drainingDbDown]: { held: S.drainingDbDown, committed: S.draining, drained: S.closed },
  [S.closed]: { committed: S.closed },
}

/** The pipeline's current state; every change goes through `on(event)`. */
export class PipelineStates {
  readonly #log: Logger
  readonly #strict: boolean
  #state: PipelineState = S.running

  constructor (log: Logger, strict = false) {
    this.#log = log
    this.#strict = strict
  }

  get current (): PipelineState { return this.#state }
  get dbDown (): boolean { return this.#state === S.dbDown || this.#state === S.drainingDbDown }
  get draining (): boolean { return this.#state === S.draining || this.#state === S.drainingDbDown }
  /** Batches may start without waiting for a retry's answer. */
  get flowing (): boolean { return this.#state === S.running || this.#state === S.draining }

  /** Applies `event`; returns the state before it. */
  on (event: PipelineEvent): PipelineState {
    const from = this.#state
    const to = NEXT[from][event]
    if (to === undefined) {
      const err = new Error(`impossible pipeline transition: ${event} in ${from}`)
      if (this.#strict) throw err
      this.#log.error({ err, state: from, event }, 'impossible pipeline transition ignored')
      return from
    }
    this.#state = to
    return from
  }
}

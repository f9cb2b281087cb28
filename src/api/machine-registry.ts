/**
 * The machine registry in memory: GET /api/v1/machines and /machines/:id answer from one copy of
 * the table, its list already serialized, instead of a query each (the original design queried on
 * every request).
 *
 *   copy ── valid while younger than MAX_AGE_MS (from the start of the query that read it)
 *        ── dropped by invalidate(): after this instance's POST, and on a NOTIFY on
 *           MACHINES_CHANNEL from any instance's POST (store/registry-listener.ts)
 *
 * So a client reads back its own POST at once, through any instance whose listener is connected;
 * rows written to the table by other means are seen within MAX_AGE_MS. One load at a time: callers
 * arriving meanwhile share it. A load that started before an invalidate() is not kept.
 */
import type pg from 'pg'
import { listMachines, type MachineRow } from '../store/machines.js'

/** Longest a copy is served; also what bounds staleness while the listener is disconnected. */
export const MAX_AGE_MS = 1_000

export interface RegistryCopy {
  /** JSON of the whole list, as JSON.stringify(rows) writes it. */
  readonly body: string
  readonly byId: ReadonlyMap<string, MachineRow>
}

export class MachineRegistry {
  readonly #maxAgeMs: number
  #generation = 0
  #copy: { readonly generation: number, readonly until: number, readonly value: RegistryCopy } | undefined
  #loading: Promise<RegistryCopy> | undefined

  constructor (maxAgeMs = MAX_AGE_MS) {
    this.#maxAgeMs = maxAgeMs
  }

  /** The registry, from memory when the copy is fresh. */
  get (db: pg.Pool): Promise<RegistryCopy> {
    const now = performance.now()
    const copy = this.#copy
    if (copy !== undefined && copy.generation === this.#generation && now < copy.until) return Promise.resolve(copy.value)
    return (this.#loading ??= this.#load(db, now))
  }

  /** Drops the copy; the next get() reads the table again. */
  invalidate (): void {
    this.#generation++
    this.#copy = undefined
    this.#loading = undefined
  }

  async #load (db: pg.Pool, startedAt: number): Promise<RegistryCopy> {
    const generation = this.#generation
    try {
      const rows = await listMachines(db)
      const value: RegistryCopy = { body: JSON.stringify(rows), byId: new Map(rows.map((r) => [r.id, r])) }
      if (generation === this.#generation) this.#copy = { generation, until: startedAt + this.#maxAgeMs, value }
      return value
    } finally {
      if (generation === this.#generation) this.#loading = undefined
    }
  }
}

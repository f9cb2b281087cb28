/**
 * Admission to the API's database connections, so that one kind of request cannot starve the
 * others and a wait for a connection is never mistaken for a database outage.
 *
 *   request ─▶ query() ─▶ free slot?  yes ─▶ pool.query ─▶ release ─▶ next waiter (light first)
 *                              │ no
 *                              └▶ FIFO of its class ── waited http.db_wait_ms ─▶ 503 api_busy + Retry-After
 *                                                   └─ MAX_WAITING already waiting ─▶ 503 api_busy at once
 *
 * Slots = database.api_pool_size: the gate never lets more queries run than the pool has
 * connections, so pg-pool never queues and its connect timeout means what it says (the database
 * is away: database_unavailable). Heavy routes (fleet-wide or long-window reads) hold at most
 * slots − 1 (1 when the pool has one connection): a light request (one machine's latest reading)
 * always finds a slot within one light query time, however many heavy ones are in flight.
 *
 * Ingest first: while ingest works through a backlog (`backlog.behind()`), heavy requests run one at
 * a time and hold a connection at most `backlog.percent` % of the time: after a heavy request held
 * one for d ms, the next heavy one starts d × (100 / percent − 1) ms after it ended. Reads of long
 * windows then take their share of both cores (the database's work and the JSON) without halving a
 * catch-up drain; light requests are never held back. 100 = no limit.
 *
 * The class comes from the request's context (AsyncLocalStorage, set by server.ts around each
 * handler), so the store functions keep taking a pg.Pool and know nothing of it.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type pg from 'pg'
import { ApiErrorCode, HttpError } from './http.js'

/** Requests waiting at once, beyond which the answer is api_busy without waiting. */
export const MAX_WAITING = 256
/** Seconds a client told api_busy should wait. */
const RETRY_AFTER_S = 1

export interface DbContext {
  readonly heavy: boolean
  /** Called when the client goes away: a waiter leaves the queue. */
  readonly onAbort: (cb: () => void) => void
}

/** Heavy requests yield to an ingest backlog (see the file header). */
export interface BacklogYield {
  readonly behind: () => boolean
  readonly percent: number
}

interface Waiter { readonly heavy: boolean, readonly grant: () => void, readonly timer: NodeJS.Timeout, done: boolean }

export class DbGate {
  readonly context = new AsyncLocalStorage<DbContext>()
  readonly #slots: number
  readonly #heavySlots: number
  readonly #waitMs: number
  readonly #busy: () => void
  readonly #backlog: BacklogYield | undefined
  /** While behind: the earliest time (performance.now()) the next heavy request may start. */
  #heavyNotBefore = 0
  #heavyTimer: NodeJS.Timeout | undefined
  #used = 0
  #heavyUsed = 0
  readonly #light: Waiter[] = []
  readonly #heavy: Waiter[] = []

  /** busy: called once per request answered api_busy (a metric). */
  constructor (slots: number, waitMs: number, busy: () => void = () => {}, backlog?: BacklogYield) {
    this.#slots = slots
    this.#heavySlots = Math.max(1, slots - 1)
    this.#waitMs = waitMs
    this.#busy = busy
    this.#backlog = backlog === undefined || backlog.percent >= 100 ? undefined : backlog
  }

  get waiting (): number { return this.#light.length + this.#heavy.length }
  get inUse (): number { return this.#used }

  /** A pg.Pool whose query() and connect() are admitted through this gate (the only methods the store calls). */
  wrap (pool: pg.Pool): pg.Pool {
    // The request's class and abort hook (server.ts sets the context); without one, a light request.
    const admit = (): Promise<() => void> => this.acquire(this.context.getStore() ?? { heavy: false, onAbort: () => {} })
    const query = async (...args: unknown[]): Promise<unknown> => {
      const release = await admit()
      try {
        return await (Reflect.apply(pool.query, pool, args) as Promise<unknown>)
      } finally {
        release()
      }
    }
    // A checked-out client (COPY reads) holds its slot until client.release().
    const connect = async (): Promise<pg.PoolClient> => {
      const release = await admit()
      let client: pg.PoolClient
      try {
        client = await pool.connect()
      } catch (err) {
        release()
        throw err
      }
      const give = client.release.bind(client)
      client.release = (err?: Error | boolean) => {
        client.release = give
        release()
        give(err)
      }
      return client
    }
    return new Proxy(pool, {
      get: (target, key, receiver) => key === 'query' ? query : key === 'connect' ? connect : Reflect.get(target, key, receiver) as unknown,
    })
  }

  acquire (ctx: DbContext): Promise<() => void> {
    if ((ctx.heavy ? this.#heavy : this.#light).length === 0 && this.#free(ctx.heavy)) return Promise.resolve(this.#take(ctx.heavy))
    if (this.waiting >= MAX_WAITING) return Promise.reject(this.#refuse(`${MAX_WAITING} requests are already waiting`))
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        heavy: ctx.heavy,
        done: false,
        grant: () => resolve(this.#take(ctx.heavy)),
        timer: setTimeout(() => {
          this.#drop(w)
          reject(this.#refuse(`no connection became free within http.db_wait_ms (${this.#waitMs} ms)`))
        }, this.#waitMs),
      }
      ;(ctx.heavy ? this.#heavy : this.#light).push(w)
      ctx.onAbort(() => {
        if (this.#drop(w)) reject(new HttpError(ApiErrorCode.apiBusy, 'request aborted while waiting'))
      })
    })
  }

  #free (heavy: boolean): boolean {
    if (this.#used >= this.#slots) return false
    if (!heavy) return true
    if (this.#backlog?.behind() === true) return this.#heavyUsed === 0 && performance.now() >= this.#heavyNotBefore
    return this.#heavyUsed < this.#heavySlots
  }

  #take (heavy: boolean): () => void {
    this.#used++
    if (heavy) this.#heavyUsed++
    const from = performance.now()
    let released = false
    return () => {
      if (released) return
      released = true
      this.#used--
      if (heavy) {
        this.#heavyUsed--
        const b = this.#backlog
        const now = performance.now()
        this.#heavyNotBefore = b !== undefined && b.behind() ? now + (now - from) * (100 / b.percent - 1) : 0
      }
      this.#next()
    }
  }

  /** Grants free slots: light waiters first, then heavy ones while the heavy share allows. */
  #next (): void {
    for (;;) {
      const w = this.#light.length > 0 && this.#free(false)
        ? this.#light.shift()
        : this.#heavy.length > 0 && this.#free(true) ? this.#heavy.shift() : undefined
      if (w === undefined) {
        this.#wakeHeavy()
        return
      }
      if (w.done) continue
      w.done = true
      clearTimeout(w.timer)
      w.grant()
    }
  }

  /** Heavy requests wait for their turn under a backlog: look again when it comes. */
  #wakeHeavy (): void {
    if (this.#heavy.length === 0 || this.#heavyTimer !== undefined) return
    const wait = this.#heavyNotBefore - performance.now()
    if (wait <= 0 || this.#heavyUsed > 0) return
    this.#heavyTimer = setTimeout(() => {
      this.#heavyTimer = undefined
      this.#next()
    }, Math.ceil(wait))
    this.#heavyTimer.unref()
  }

  /** Removes a waiter that is still queued; false when it was already granted or dropped. */
  #drop (w: Waiter): boolean {
    if (w.done) return false
    w.done = true
    clearTimeout(w.timer)
    const q = w.heavy ? this.#heavy : this.#light
    const i = q.indexOf(w)
    if (i >= 0) q.splice(i, 1)
    return true
  }

  #refuse (why: string): HttpError {
    this.#busy()
    return new HttpError(ApiErrorCode.apiBusy, `the API is busy: all ${this.#slots} database connections are in use and ${why}; retry after ${RETRY_AFTER_S} s`,
      { 'Retry-After': String(RETRY_AFTER_S) })
  }
}

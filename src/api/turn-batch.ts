/**
 * Requests that arrive in one event-loop turn share one database read.
 *
 *   turn N:   get(k1) get(k2) get(k1) … ─▶ batch {k1, k2} opens; setImmediate
 *   check:    batch closes ─▶ run([k1, k2]) (one query) ─▶ each caller gets its key's value
 *
 * Every read starts after each of its callers arrived, so answers are as fresh as a query of
 * their own: nothing is cached across batches. What is saved is per-query work in this thread
 * (one pg round trip, one result parse, instead of one per request): under 32 concurrent clients
 * a turn typically holds several requests (bench/RESULTS.md, "API vs the original").
 *
 * A batch runs in a context of its own (`detached`), not in the first caller's: one caller
 * leaving must not cancel the others' read. A failed read fails every caller of the batch.
 */
export type Detached = <T>(f: () => Promise<T>) => Promise<T>

interface Waiting<V> { readonly resolve: (v: V | undefined) => void, readonly reject: (err: unknown) => void }

export class TurnBatch<K, V> {
  readonly #run: (keys: K[]) => Promise<Map<K, V>>
  readonly #detached: Detached
  #open: Map<K, Array<Waiting<V>>> | undefined

  constructor (run: (keys: K[]) => Promise<Map<K, V>>, detached: Detached) {
    this.#run = run
    this.#detached = detached
  }

  /** The value of `key` from a read that starts after this call; undefined when the read has none. */
  get (key: K): Promise<V | undefined> {
    let open = this.#open
    if (open === undefined) {
      const batch = open = this.#open = new Map()
      setImmediate(() => {
        if (this.#open === batch) this.#open = undefined
        this.#flush(batch)
      })
    }
    const waiting = open.get(key) ?? []
    if (waiting.length === 0) open.set(key, waiting)
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }))
  }

  #flush (batch: Map<K, Array<Waiting<V>>>): void {
    this.#detached(() => this.#run([...batch.keys()])).then((values) => {
      for (const [k, ws] of batch) for (const w of ws) w.resolve(values.get(k))
    }, (err: unknown) => {
      for (const ws of batch.values()) for (const w of ws) w.reject(err)
    })
  }
}

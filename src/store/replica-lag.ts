/**
 * How far the API's database (database.api_url, a streaming replica) is behind the primary, read
 * every few seconds on the API pool, for `cnc_db_replica_lag_seconds` and the /readyz details.
 *
 *   primary (not in recovery)                         → 0
 *   replica, everything received is replayed         → 0   (an idle primary writes no WAL, so the
 *                                                             last replayed commit may be old: not lag)
 *   replica, WAL received but not yet replayed        → now() − timestamp of the last replayed commit
 *   unreachable                                       → null (state 'unavailable')
 *
 * Limit: a replica cut off from its primary has replayed everything it received, so it reads 0
 * while it falls behind; `pg_stat_wal_receiver` on the replica (or the primary's
 * `pg_stat_replication`) shows that case.
 */
import type pg from 'pg'
import type { Logger } from 'pino'

const LAG_SQL = `SELECT pg_is_in_recovery() AS replica,
  CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
       ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8 AS lag`

export type ReplicaState = 'unknown' | 'primary' | 'replica' | 'unavailable'

export class ReplicaLag {
  readonly #pool: pg.Pool
  readonly #everyMs: number
  readonly #log: Logger
  #timer: NodeJS.Timeout | undefined
  #state: ReplicaState = 'unknown'
  #seconds: number | null = null
  #running = false

  constructor (pool: pg.Pool, everyMs: number, log: Logger) {
    this.#pool = pool
    this.#everyMs = everyMs
    this.#log = log
  }

  get state (): ReplicaState { return this.#state }
  /** Seconds behind the primary; null while unknown or unreachable. */
  get seconds (): number | null { return this.#seconds }

  start (): void {
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => { this.refresh().catch(() => {}) }, this.#everyMs)
    this.#timer.unref()
    this.refresh().catch(() => {})
  }

  /** One reading; never throws (an unreachable server is a state). One query at a time. */
  async refresh (): Promise<void> {
    if (this.#running) return
    this.#running = true
    try {
      const r = await this.#pool.query<{ replica: boolean, lag: number }>(LAG_SQL)
      const row = r.rows[0]
      if (this.#state === 'unavailable') this.#log.info('API database reachable again')
      this.#state = row?.replica === true ? 'replica' : 'primary'
      this.#seconds = Math.max(0, Number(row?.lag ?? 0))
    } catch (err) {
      if (this.#state !== 'unavailable') this.#log.warn({ err: (err as Error).message }, 'API database unreachable: API routes answer 503 until it is back')
      this.#state = 'unavailable'
      this.#seconds = null
    } finally {
      this.#running = false
    }
  }

  close (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}

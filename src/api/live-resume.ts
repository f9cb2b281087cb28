/**
 * Live-feed resumes under way (issue 12, exact subscriptions): a client that reconnects with
 * {"subscribe": …, "since": cursor} is not subscribed to any topic while its replay runs.
 *
 *   start    registered here first: live frames meant for it are held from now on (at most
 *            RESUME_BUFFER_FACTOR × live.max_buffered_bytes; beyond, resume_overflow)
 *   head     the database's newest commit number (the seam) and the cursor's age (live-replay.ts)
 *   replay   everything after the cursor up to head, in chunks of REPLAY_COMMITS commits, each
 *            waiting until the socket has sent most of the one before
 *   seam     {"type":"resumed"}, the held frames of commits after head, then join() subscribes the
 *            topics, in one synchronous step
 *
 * No commit is missed (one ≤ head is in the database; one > head committed after the client was
 * registered, so it was held) and none is sent twice (held frames ≤ head are dropped).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Counter } from 'prom-client'
import { LiveErrorCode } from '../errors.js'
import type { SqlClient } from '../write/sql-client.js'
import { compareIds, cursorFrame, type LiveCursor } from './live-cursor.js'
import { replayChunk, resumeHead } from './live-replay.js'

/** Live frames held for a resuming client: at most this many × live.max_buffered_bytes. */
export const RESUME_BUFFER_FACTOR = 16
/** Commits read per replay query. */
const REPLAY_COMMITS = 32

/** What a resume needs of its WebSocket. */
export interface ResumeSocket {
  send (frame: string): unknown
  getBufferedAmount (): number
  end (code: number, reason: string): void
}

/** A resume under way: the subscription it will make, and the live frames held for it meanwhile. */
export interface Replay {
  readonly all: boolean
  readonly machines: ReadonlySet<string>
  readonly held: Array<{ readonly commitNo: number | undefined, readonly frame: string }>
  bytes: number
  overflow: boolean
}

/** The connection's side of a resume (live-feed.ts). */
export interface ResumeHooks {
  readonly closed: () => boolean
  readonly fail: (code: LiveErrorCode, message: string) => void
  /** Sends the subscribed answer (machines in id order; null: "*"). */
  readonly subscribed: (machines: readonly string[] | null) => void
  /** Subscribes the replay's topics; called at the seam, right after the held frames. */
  readonly join: () => void
}

export interface ResumeOptions {
  readonly maxBufferedBytes: number
  readonly resumeMaxAgeS: number
  readonly log: Logger
  readonly resumes: Counter<'outcome'>
  readonly replayed: Counter
}

export class LiveResumes<S extends ResumeSocket> {
  readonly #opts: ResumeOptions
  readonly #replaying = new Map<S, Replay>()

  constructor (opts: ResumeOptions) { this.#opts = opts }

  has (ws: S): boolean { return this.#replaying.has(ws) }

  /** True when a resume under way wants frames matching `wants`. */
  wants (wants: (r: Replay) => boolean): boolean {
    if (this.#replaying.size === 0) return false
    for (const r of this.#replaying.values()) if (wants(r)) return true
    return false
  }

  /** Holds a frame for every resume under way that `wants` it. */
  hold (commitNo: number | undefined, frame: string, wants: (r: Replay) => boolean): void {
    const limit = RESUME_BUFFER_FACTOR * this.#opts.maxBufferedBytes
    for (const r of this.#replaying.values()) {
      if (r.overflow || !wants(r)) continue
      r.bytes += frame.length
      if (r.bytes > limit) { r.overflow = true; r.held.length = 0 } else r.held.push({ commitNo, frame })
    }
  }

  /** The connection closed: its frames are no longer held (the replay notices through hooks.closed). */
  drop (ws: S): void { this.#replaying.delete(ws) }

  /** Registers the resume (frames held from here) and runs it; failures end as hooks.fail. */
  start (ws: S, db: SqlClient, cursor: LiveCursor, sub: { readonly all: boolean, readonly machines: readonly string[] }, hooks: ResumeHooks): void {
    const replay: Replay = { all: sub.all, machines: new Set(sub.machines), held: [], bytes: 0, overflow: false }
    this.#replaying.set(ws, replay)
    this.#run(ws, db, cursor, replay, hooks).catch((err: unknown) => {
      this.#opts.resumes.inc({ outcome: 'failed' })
      this.#opts.log.warn({ err: (err as Error).message }, 'live-feed resume failed')
      if (!hooks.closed()) hooks.fail(LiveErrorCode.resumeUnavailable, 'the database could not be read for the resume: try again')
    }).finally(() => { this.#replaying.delete(ws) })
  }

  async #run (ws: S, db: SqlClient, cursor: LiveCursor, replay: Replay, hooks: ResumeHooks): Promise<void> {
    const { maxBufferedBytes, resumeMaxAgeS: maxAge } = this.#opts
    const head = await resumeHead(db, cursor.commitNo, maxAge)
    if (hooks.closed()) return
    if (!head.ok) {
      this.#opts.resumes.inc({ outcome: 'too_old' })
      hooks.fail(LiveErrorCode.resumeTooOld, `this cursor is older than live.resume_max_age_s (${maxAge} s) or unknown to this database: ` +
        'page through GET /api/v1/machines/{id}/data (start_time = your last reading\'s timestamp) instead, then subscribe without "since"')
      return
    }
    const list = replay.all ? null : [...replay.machines].sort(compareIds)
    hooks.subscribed(list)
    let replayed = 0
    let from: LiveCursor | null = cursor
    while (from !== null) {
      const chunk = await replayChunk(db, from, head.head, list, REPLAY_COMMITS)
      if (hooks.closed()) return
      let n = 0
      for (const f of chunk.frames) {
        ws.send(cursorFrame({ commitNo: f.commitNo, machine: f.machine }, f.readings))
        n += f.readings.length
      }
      replayed += n
      this.#opts.replayed.inc(n)
      from = chunk.next
      // Backpressure: the next chunk waits until the client has taken most of this one.
      while (!hooks.closed() && !replay.overflow && ws.getBufferedAmount() > maxBufferedBytes / 2) await sleep(5)
      if (hooks.closed()) return
      if (replay.overflow) {
        this.#opts.resumes.inc({ outcome: 'overflow' })
        hooks.fail(LiveErrorCode.resumeOverflow, `live readings for this client passed ${RESUME_BUFFER_FACTOR} × live.max_buffered_bytes while it caught up: resume again from your last cursor`)
        ws.end(1008, 'resume overflow')
        return
      }
    }
    // The seam, in one synchronous step: held frames after head, then the topics.
    ws.send(JSON.stringify({ type: 'resumed', readings: replayed }))
    for (const h of replay.held) if (h.commitNo === undefined || h.commitNo > head.head) ws.send(h.frame)
    hooks.join()
    this.#opts.resumes.inc({ outcome: 'ok' })
  }
}

/**
 * The database side of a live-feed resume (issue 12): what a client that reconnects with a cursor
 * missed, read from sensor_data through live_commits (sql/004_live_commits.sql).
 *
 *   resumeHead    is the cursor's commit still within live.resume_max_age_s, and the newest commit
 *                 number visible now (the seam: live frames of commits up to it are dropped)
 *   replayChunk   the frames of the next few commits after a position, up to that head
 *
 * Commit numbers are taken under the stream lock, so a statement that sees commit N sees every
 * commit before it: nothing ≤ head can still appear after resumeHead answered.
 */
import { READING_FIELDS } from '../reading-fields.js'
import { isoUtc } from '../store/machines.js'
import type { SqlClient } from '../write/sql-client.js'
import { compareIds, type LiveCursor } from './live-cursor.js'
import { rowFieldsJson } from './reading-json.js'

export type ResumeHead = { readonly ok: true, readonly head: number } | { readonly ok: false }

export async function resumeHead (db: SqlClient, commitNo: number, maxAgeS: number): Promise<ResumeHead> {
  const { rows } = await db.query<{ fresh: boolean | null, head: string | null }>(
    `SELECT (SELECT committed_at >= now() - make_interval(secs => $2) FROM live_commits WHERE commit_no = $1) AS fresh,
            (SELECT max(commit_no) FROM live_commits) AS head`, [commitNo, maxAgeS])
  const r = rows[0]
  return r?.fresh === true && r.head !== null ? { ok: true, head: Number(r.head) } : { ok: false }
}

/** One frame to send: the readings of one commit, of one machine or (machine null) of all subscribed. */
export interface ReplayFrame {
  readonly commitNo: number
  readonly machine: string | null
  readonly readings: string[]
}

export interface ReplayChunk {
  readonly frames: ReplayFrame[]
  /** Where the next chunk starts (the last commit read, whole), or null when `head` was reached. */
  readonly next: LiveCursor | null
}

const FIELD_NAMES = READING_FIELDS.map((f) => f.name)
const COLUMNS = [`${isoUtc('s.time')} AS timestamp`, ...FIELD_NAMES.map((f) => `s.${f}`)].join(', ')

/**
 * The frames of at most `commits` commits after `from` (and of commit `from.commitNo` itself, those
 * of machines after `from.machine`), up to `head`, for `machines` (null: every machine, one frame
 * per commit; otherwise one frame per commit and machine, in machine id order).
 */
export async function replayChunk (db: SqlClient, from: LiveCursor, head: number, machines: readonly string[] | null, commits: number): Promise<ReplayChunk> {
  const first = from.machine === null ? from.commitNo + 1 : from.commitNo
  const listed = await db.query<{ commit_no: string, tx: string, min_ms: number | null, max_ms: number | null }>(
    `SELECT commit_no, tx, extract(epoch FROM min_time)::float8 * 1000 AS min_ms, extract(epoch FROM max_time)::float8 * 1000 AS max_ms
       FROM live_commits WHERE commit_no >= $1 AND commit_no <= $2 ORDER BY commit_no LIMIT $3`, [first, head, commits])
  if (listed.rows.length === 0) return { frames: [], next: null }
  const last = Number(listed.rows[listed.rows.length - 1]?.commit_no)
  const next = last >= head ? null : { commitNo: last, machine: null }
  const commitOf = new Map<string, number>()
  let lo = Infinity
  let hi = -Infinity
  let minMs = Infinity
  let maxMs = -Infinity
  for (const r of listed.rows) {
    if (r.min_ms === null || r.max_ms === null) continue // a transaction without rows
    commitOf.set(r.tx, Number(r.commit_no))
    lo = Math.min(lo, Number(r.tx))
    hi = Math.max(hi, Number(r.tx))
    minMs = Math.min(minMs, r.min_ms)
    maxMs = Math.max(maxMs, r.max_ms)
  }
  if (commitOf.size === 0) return { frames: [], next }
  // The time bounds exclude chunks (a compressed one has no index on live_tx) and time block ranges;
  // the tx range lets the BRIN index on live_tx skip the rest; the list picks the commits.
  const { rows } = await db.query<Record<string, unknown> & { live_tx: string, machine_id: string }>(
    `SELECT s.live_tx, s.machine_id, ${COLUMNS} FROM sensor_data s
      WHERE s.time >= to_timestamp($1::float8 / 1000) - interval '1 ms' AND s.time <= to_timestamp($2::float8 / 1000) + interval '1 ms'
        AND s.live_tx BETWEEN $3 AND $4 AND s.live_tx = ANY($5::bigint[]) AND ($6::text[] IS NULL OR s.machine_id = ANY($6::text[]))
      ORDER BY s.time`, [minMs, maxMs, lo, hi, [...commitOf.keys()], machines])
  const byCommit = new Map<number, Map<string, string[]>>()
  for (const r of rows) {
    const machineId = r.machine_id
    const commitNo = commitOf.get(r.live_tx) as number
    if (commitNo === from.commitNo && from.machine !== null && compareIds(machineId, from.machine) <= 0) continue
    // Serialized as /data serializes a stored row (ReadingRow: timestamp, then READING_FIELDS).
    const json = `{"machine_id":${JSON.stringify(machineId)},${rowFieldsJson([r.timestamp, ...FIELD_NAMES.map((f) => r[f])], 0)}}`
    let perMachine = byCommit.get(commitNo)
    if (perMachine === undefined) byCommit.set(commitNo, perMachine = new Map())
    const key = machines === null ? '' : machineId
    const list = perMachine.get(key)
    if (list === undefined) perMachine.set(key, [json])
    else list.push(json)
  }
  const frames: ReplayFrame[] = []
  for (const commitNo of [...byCommit.keys()].sort((a, b) => a - b)) {
    const perMachine = byCommit.get(commitNo) as Map<string, string[]>
    for (const id of [...perMachine.keys()].sort(compareIds)) {
      frames.push({ commitNo, machine: machines === null ? null : id, readings: perMachine.get(id) as string[] })
    }
  }
  return { frames, next }
}

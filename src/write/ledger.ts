/**
 * The ingest ledger: which stream sequences have committed (sql/002_ingest_ledger.sql).
 *
 *   writer tx:  BEGIN · COPY … · pg_advisory_xact_lock(stream) · overlap? · INSERT ranges · COMMIT
 *
 * The lock is taken after the COPY and held to COMMIT, so two writers (or two instances) can never
 * both find a sequence absent and both commit it; holding it only for the short tail keeps COPYs
 * concurrent. A batch is one or a few ranges (sequences arrive mostly in order), so the cost is one
 * small INSERT and one index lookup per batch, not per message.
 */
import type { SqlClient } from './sql-client.js'

/**
 * Marks every copy but the first of a sequence that occurs more than once in one batch: JetStream
 * redelivers a message whose ack timer ran out while this process still held it (a stalled event
 * loop, ack_wait shorter than a batch), and both copies can land in the same batch. Null when none.
 */
export function repeatsInBatch (seqs: ArrayLike<number>): Uint8Array | null {
  const seen = new Set<number>()
  let marks: Uint8Array | null = null
  for (let i = 0; i < seqs.length; i++) {
    const s = seqs[i] as number
    if (seen.has(s)) (marks ??= new Uint8Array(seqs.length))[i] = 1
    else seen.add(s)
  }
  return marks
}

/** Sorted, merged [lo, hi] ranges of the given sequences (those with keep[i] !== 0, when given). */
export function toRanges (seqs: ArrayLike<number>, keep?: Uint8Array): Array<[number, number]> {
  const sorted: number[] = []
  for (let i = 0; i < seqs.length; i++) if (keep === undefined || keep[i] !== 0) sorted.push(seqs[i] as number)
  sorted.sort((a, b) => a - b)
  const ranges: Array<[number, number]> = []
  for (const s of sorted) {
    const last = ranges[ranges.length - 1]
    if (last !== undefined && s <= last[1] + 1) last[1] = Math.max(last[1], s)
    else ranges.push([s, s])
  }
  return ranges
}

export async function lockStream (client: SqlClient, streamKey: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [streamKey])
}

/**
 * Marks (in the returned array, by message index) the sequences that an earlier transaction already
 * committed. Returns null when none did, the common case.
 */
export async function findCommitted (client: SqlClient, streamKey: string, seqs: ArrayLike<number>): Promise<Uint8Array | null> {
  const repeated = repeatsInBatch(seqs)
  const span = extent(seqs)
  if (span === null) return repeated
  const [min, max] = span
  const { rows } = await client.query<{ lo: string, hi: string }>(
    'SELECT lo, hi FROM ingest_ledger WHERE stream_key = $1 AND hi >= $2 AND lo <= $3', [streamKey, min, max])
  if (rows.length === 0) return repeated
  const ranges = rows.map((r) => [Number(r.lo), Number(r.hi)] as const)
  const done = repeated ?? new Uint8Array(seqs.length)
  let any = repeated !== null
  for (let i = 0; i < seqs.length; i++) {
    const s = seqs[i] as number
    for (const [lo, hi] of ranges) {
      if (s >= lo && s <= hi) { done[i] = 1; any = true; break }
    }
  }
  return any ? done : null
}

export async function recordCommitted (client: SqlClient, streamKey: string, ranges: ReadonlyArray<readonly [number, number]>): Promise<void> {
  if (ranges.length === 0) return
  await client.query('INSERT INTO ingest_ledger (stream_key, lo, hi) SELECT $1, lo, hi FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)',
    [streamKey, ranges.map((r) => r[0]), ranges.map((r) => r[1])])
}

/** Lowest and highest of `values`; null when there are none. */
export function extent (values: ArrayLike<number>): readonly [number, number] | null {
  if (values.length === 0) return null
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number
    if (v < min) min = v
    if (v > max) max = v
  }
  return [min, max]
}

/** Reading times (ms since the Unix epoch, µs fractions) of a transaction's rows: lowest and highest. */
export interface TimeSpan { readonly minMs: number, readonly maxMs: number }

/**
 * The live feed's commit position (sql/004_live_commits.sql), taken in the same statement as the
 * ledger INSERT, i.e. under the stream lock: commit numbers grow in commit order. `tx` ties the
 * rows this transaction COPYed (sensor_data.live_tx) to it; $min and $max are its TimeSpan (or null).
 */
const liveCommit = (min: string, max: string): string => `c AS (INSERT INTO live_commits (commit_no, tx, min_time, max_time)
  VALUES (nextval('live_commit_seq'), txid_current(), to_timestamp(${min}::float8 / 1000), to_timestamp(${max}::float8 / 1000)) RETURNING commit_no)`

/** recordCommitted for a writing transaction: also takes its live-feed commit number (returned). */
export async function recordCommit (client: SqlClient, streamKey: string, ranges: ReadonlyArray<readonly [number, number]>, span: TimeSpan | null): Promise<number> {
  const { rows } = await client.query<{ commit_no: string }>(
    `WITH ${liveCommit('$4', '$5')}, ins AS (INSERT INTO ingest_ledger (stream_key, lo, hi) SELECT $1, lo, hi FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi))
     SELECT commit_no FROM c`, [streamKey, ranges.map((r) => r[0]), ranges.map((r) => r[1]), span?.minMs ?? null, span?.maxMs ?? null])
  return Number(rows[0]?.commit_no)
}

/** Ranges read per floor computation; a floor further ahead is reached over several reads. */
const FLOOR_READ_LIMIT = 1_000

/**
 * recordCommit, and in the same round trip the floor for range acks (ack/ack-floor.ts): the highest
 * F such that every sequence in (after, F] is in the ledger, counting the ranges recorded here (the
 * statement's snapshot does not see its own INSERT). Called under the stream lock, so every
 * transaction that committed before this one is seen.
 */
export async function recordCommittedReadFloor (client: SqlClient, streamKey: string, ranges: ReadonlyArray<readonly [number, number]>, after: number,
  span: TimeSpan | null): Promise<{ through: number, commitNo: number }> {
  const { rows } = await client.query<{ commit_no: string, lo: string | null, hi: string | null }>(
    `WITH ${liveCommit('$5', '$6')}, ins AS (INSERT INTO ingest_ledger (stream_key, lo, hi) SELECT $1, lo, hi FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi))
     SELECT c.commit_no, l.lo, l.hi FROM c LEFT JOIN LATERAL
       (SELECT lo, hi FROM ingest_ledger WHERE stream_key = $1 AND hi > $4 ORDER BY lo LIMIT ${FLOOR_READ_LIMIT}) l ON true`,
    [streamKey, ranges.map((r) => r[0]), ranges.map((r) => r[1]), after, span?.minMs ?? null, span?.maxMs ?? null])
  const all = rows.filter((r) => r.lo !== null).map((r) => [Number(r.lo), Number(r.hi)] as const).concat(ranges)
  all.sort((a, b) => a[0] - b[0])
  return { through: contiguousThrough(all, after), commitNo: Number(rows[0]?.commit_no) }
}

/** Walks sorted [lo, hi] ranges from `after`; stops at the first hole. */
function contiguousThrough (sorted: ReadonlyArray<readonly [number, number]>, after: number): number {
  let through = after
  for (const [lo, hi] of sorted) {
    if (lo > through + 1) break
    if (hi > through) through = hi
  }
  return through
}

/**
 * Drops ranges wholly at or below the consumer's ack floor and older than `minAgeMs`. The age is a
 * second guard: nats-server moves the floor's stream sequence with delivery order, so a redelivered
 * message with a lower sequence can still be pending below it; such a message comes back within
 * the redelivery backoff, which the caller's minimum age exceeds.
 */
export async function pruneLedger (client: SqlClient, streamKey: string, ackFloorSeq: number, minAgeMs: number): Promise<number> {
  const res = await client.query('DELETE FROM ingest_ledger WHERE stream_key = $1 AND hi <= $2 AND committed_at < now() - make_interval(secs => $3)',
    [streamKey, ackFloorSeq, minAgeMs / 1000])
  return res.rowCount ?? 0
}

/**
 * The highest sequence s such that every sequence in (after, s] is in the ledger (`after` when the
 * next one is not): where a consumer recreated over the same stream can start without writing again.
 */
export async function committedThrough (client: SqlClient, streamKey: string, after: number): Promise<number> {
  const { rows } = await client.query<{ lo: string, hi: string }>(
    'SELECT lo, hi FROM ingest_ledger WHERE stream_key = $1 AND hi > $2 ORDER BY lo LIMIT 100000', [streamKey, after])
  return contiguousThrough(rows.map((r) => [Number(r.lo), Number(r.hi)] as const), after)
}

/**
 * Drops the ranges of earlier incarnations of `stream` (deleted and recreated: another creation time
 * in the key) once older than `minAgeMs`: no batch of a deleted stream is in flight that long.
 */
export async function pruneOldIdentities (client: SqlClient, stream: string, currentKey: string, minAgeMs: number): Promise<number> {
  const res = await client.query(`DELETE FROM ingest_ledger WHERE left(stream_key, length($1) + 1) = $1 || '@' AND stream_key <> $2
    AND committed_at < now() - make_interval(secs => $3)`, [stream, currentKey, minAgeMs / 1000])
  return res.rowCount ?? 0
}

/** Drops live_commits rows older than the resume limit (a resume from them is refused anyway; rows of sensor_data keep their live_tx). */
export async function pruneLiveCommits (db: SqlClient, maxAgeS: number): Promise<number> {
  const res = await db.query('DELETE FROM live_commits WHERE committed_at < now() - make_interval(secs => $1)', [maxAgeS])
  return res.rowCount ?? 0
}

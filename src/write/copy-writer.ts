/**
 * Writes one parsed batch (or the part of it marked in `meta.include`) in one transaction:
 *
 *   BEGIN · COPY sensor_data FROM STDIN (BINARY) · lock stream · ledger overlap? · INSERT rejected_messages
 *         · INSERT ledger ranges + live commit number (one statement) · COMMIT
 *
 * COPY refused for a data reason (SQLSTATE 22/23) → roll back to a savepoint around that COPY and
 * bisect the rows until each refused row stands alone; those become dead letters, the rest commit.
 *
 * Invariant: the per-stream advisory lock is taken at the transaction's top level, never inside a
 * savepoint, so no ROLLBACK TO SAVEPOINT can release it before COMMIT (PostgreSQL releases xact
 * advisory locks taken in a rolled-back subtransaction). When the ledger shows messages already
 * committed (a redelivery), the whole transaction is rolled back and redone with the lock taken
 * first and the ledger read again under it: whatever committed in between is seen.
 *
 * Any other failure rolls the whole batch back and is reported as failed: nothing of it is visible,
 * and the caller decides (hold and retry, bisect). Results are reported only after COMMIT returned.
 */
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import type { CommitResult, ParsedBatch, Rejection } from '../contracts.js'
import { RejectCode } from '../errors.js'
import { COPY_COLUMNS, COPY_HEADER, COPY_TRAILER } from '../parse/copy-encoder.js'
import type { CommitOrder } from './commit-order.js'
import { insertDeadLetters, type DeadLetter } from './dead-letters.js'
import { extent, findCommitted, lockStream, recordCommit, recordCommittedReadFloor, toRanges, type TimeSpan } from './ledger.js'
import { classifyPgError } from './sqlstate.js'

const COPY_SQL = `COPY sensor_data (${COPY_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`

export interface BatchMeta {
  /** Identity of the stream for the ledger: `<name>@<created>`. */
  readonly streamKey: string
  /** Stream sequence of message i. */
  readonly streamSeq: ArrayLike<number>
  /**
   * Messages this write settles (1 = included); absent = all. The batch passed must hold only their
   * rows and rejections (withoutMessages); indices stay those of the whole batch.
   */
  readonly include?: Uint8Array
  /** The dead-letter row for a rejection (from the worker, or a row PostgreSQL refused here). */
  readonly deadLetterFor: (r: Rejection) => DeadLetter
  /**
   * Range acks (ack policy `all`): the ack floor known so far. The transaction then also reads the
   * ledger's contiguous floor from there (CommitResult `through`), in the same round trip as its ledger INSERT.
   */
  readonly ackFloor?: number
}

export class CopyWriter {
  readonly #pool: pg.Pool
  /**
   * Writes wait here, without a deadline, for one of the pool's `slots` connections. Waiting inside
   * pg-pool instead would hit its connection timeout whenever a slow database keeps every connection
   * busy, and a busy database would be taken for a dead one (batch nak'd and redelivered).
   */
  #free: number
  readonly #waiting: Array<() => void> = []

  readonly #timeoutMs: number
  readonly #order: CommitOrder | undefined

  /**
   * `timeoutMs`: a write still unfinished after this long has its connection destroyed (see write()).
   * `order`: told of each live-feed commit number between the ledger statement and the COMMIT's answer.
   */
  constructor (pool: pg.Pool, slots: number, timeoutMs = 120_000, order?: CommitOrder) {
    this.#pool = pool
    this.#free = slots
    this.#timeoutMs = timeoutMs
    this.#order = order
  }

  async write (batch: ParsedBatch, meta: BatchMeta): Promise<CommitResult> {
    if (this.#free > 0) this.#free--
    else await new Promise<void>((resolve) => this.#waiting.push(resolve))
    try {
      return await this.#writeWithSlot(batch, meta)
    } finally {
      const next = this.#waiting.shift()
      if (next !== undefined) next()
      else this.#free++
    }
  }

  async #writeWithSlot (batch: ParsedBatch, meta: BatchMeta): Promise<CommitResult> {
    const started = performance.now()
    let client: pg.PoolClient
    try {
      client = await this.#pool.connect()
    } catch (err) {
      return { type: 'failed', error: err as Error }
    }
    let broken: Error | undefined
    let taken: number | undefined
    // Watchdog: a socket that hangs without closing would hold the batch (kept alive by +WPI) and
    // its writer slot forever. Destroying the connection makes the pending query fail: the batch is
    // rolled back (nothing was committed) and retried like any other failed write.
    const watchdog = setTimeout(() => destroyConnection(client), this.#timeoutMs)
    // The failing query reports a lost connection; the client's own 'error' event must not go unheard.
    client.on('error', ignore)
    try {
      const seqs = includedSeqs(meta)
      await client.query('BEGIN')
      let refused = await copyRows(client, batch)
      await lockStream(client, meta.streamKey)
      let done = toBatchMarks(await findCommitted(client, meta.streamKey, seqs.values), seqs.index, meta.streamSeq.length)
      let written = batch
      if (done !== null) {
        // Rare (redeliveries): start over with the lock first, so the ledger read holds until COMMIT.
        await client.query('ROLLBACK')
        await client.query('BEGIN')
        await lockStream(client, meta.streamKey)
        done = toBatchMarks(await findCommitted(client, meta.streamKey, seqs.values), seqs.index, meta.streamSeq.length)
        written = done === null ? batch : withoutMessages(batch, done)
        refused = await copyRows(client, written)
      }
      const rejections = written.rejections
      const all = refused.length === 0 ? rejections : [...rejections, ...refused]
      if (all.length > 0) await insertDeadLetters(client, all.map(meta.deadLetterFor))
      const keep = done === null ? meta.include : keepMask(meta.include, done)
      const ranges = toRanges(meta.streamSeq, keep)
      let through: number | undefined
      let commitNo: number
      const span = timeSpan(written.rowTimeMs)
      if (meta.ackFloor === undefined) commitNo = await recordCommit(client, meta.streamKey, ranges, span)
      else ({ through, commitNo } = await recordCommittedReadFloor(client, meta.streamKey, ranges, meta.ackFloor, span))
      this.#order?.taken(taken = commitNo)
      await client.query('COMMIT')
      const alreadyCommitted: number[] = []
      if (done !== null) done.forEach((d, i) => { if (d === 1) alreadyCommitted.push(i) })
      const rows = written.rowEnds.length - refused.length
      return { type: 'committed', rows, rejections: all, alreadyCommitted, durationMs: performance.now() - started, commitNo, ...(through === undefined ? {} : { through }) }
    } catch (err) {
      broken = err as Error
      await client.query('ROLLBACK').catch(() => {})
      return { type: 'failed', error: err as Error }
    } finally {
      if (taken !== undefined) this.#order?.settled(taken)
      clearTimeout(watchdog)
      client.off('error', ignore)
      // After any failure the connection is destroyed rather than reused: it may be half-way through
      // a protocol exchange or attached to a server that is going away; a new one costs milliseconds.
      client.release(broken)
    }
  }
}

/** COPY every row of the batch, isolating rows PostgreSQL refuses; returns those as rejections. */
async function copyRows (client: pg.PoolClient, batch: ParsedBatch): Promise<Rejection[]> {
  const refused: Rejection[] = []
  if (batch.rowEnds.length > 0) await copyRange(client, batch, 0, batch.rowEnds.length, refused)
  return refused
}

/** COPY rows [lo, hi) under a savepoint; on a row-class error, bisect. Throws on anything else. */
async function copyRange (client: pg.PoolClient, batch: ParsedBatch, lo: number, hi: number, refused: Rejection[]): Promise<void> {
  await client.query('SAVEPOINT copy_range')
  try {
    const start = lo === 0 ? 0 : batch.rowEnds[lo - 1] as number
    await copyBytes(client, batch.copy.subarray(start, batch.rowEnds[hi - 1] as number))
    await client.query('RELEASE SAVEPOINT copy_range')
    return
  } catch (err) {
    if (classifyPgError(err) !== 'row') throw err
    await client.query('ROLLBACK TO SAVEPOINT copy_range')
    if (hi - lo === 1) {
      const e = err as Error & { code?: string }
      refused.push({ index: batch.rowMessage[lo] as number, code: RejectCode.dbRejected, detail: `SQLSTATE ${e.code ?? '?'}: ${e.message}`.slice(0, 500) })
      return
    }
  }
  const mid = lo + Math.floor((hi - lo) / 2)
  await copyRange(client, batch, lo, mid, refused)
  await copyRange(client, batch, mid, hi, refused)
}

/** Lowest and highest reading time of the rows (refused ones included: a bound, not a list); null for none. */
function timeSpan (times: Float64Array): TimeSpan | null {
  const span = extent(times)
  return span === null ? null : { minMs: span[0], maxMs: span[1] }
}

function ignore (): void {}

function destroyConnection (client: pg.PoolClient): void {
  const socket = (client as unknown as { connection?: { stream?: { destroy: () => void } } }).connection?.stream
  socket?.destroy()
}

function copyBytes (client: pg.PoolClient, body: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = client.query(copyFrom(COPY_SQL))
    stream.on('error', reject)
    stream.on('finish', resolve)
    stream.write(COPY_HEADER)
    stream.write(body)
    stream.end(COPY_TRAILER)
  })
}

/** The sequences the ledger is asked about: those of included messages, with their batch indices. */
function includedSeqs (meta: BatchMeta): { values: ArrayLike<number>, index: number[] | null } {
  const inc = meta.include
  if (inc === undefined) return { values: meta.streamSeq, index: null }
  const index: number[] = []
  for (let i = 0; i < inc.length; i++) if (inc[i] === 1) index.push(i)
  return { values: index.map((i) => meta.streamSeq[i] as number), index }
}

/** Ledger marks of the included sequences, moved back to batch indices. */
function toBatchMarks (marks: Uint8Array | null, index: number[] | null, count: number): Uint8Array | null {
  if (marks === null || index === null) return marks
  const out = new Uint8Array(count)
  index.forEach((i, k) => { out[i] = marks[k] as number })
  return out
}

/** Messages to record in the ledger: included and not committed before. */
function keepMask (include: Uint8Array | undefined, done: Uint8Array): Uint8Array {
  const keep = new Uint8Array(done.length)
  for (let i = 0; i < done.length; i++) keep[i] = (include === undefined || include[i] === 1) && done[i] !== 1 ? 1 : 0
  return keep
}

/** The batch without the rows and rejections of messages marked in `drop` (the rare redelivery path). */
export function withoutMessages (batch: ParsedBatch, drop: Uint8Array): ParsedBatch {
  const keepRows: number[] = []
  let bytes = 0
  for (let r = 0; r < batch.rowEnds.length; r++) {
    if (drop[batch.rowMessage[r] as number] === 1) continue
    keepRows.push(r)
    bytes += (batch.rowEnds[r] as number) - (r === 0 ? 0 : batch.rowEnds[r - 1] as number)
  }
  const copy = new Uint8Array(bytes)
  const rowEnds = new Uint32Array(keepRows.length)
  const rowMessage = new Uint32Array(keepRows.length)
  const rowSpan = new Uint32Array(2 * keepRows.length)
  const rowTimeMs = new Float64Array(keepRows.length)
  const rowMachine = new Uint32Array(keepRows.length)
  let pos = 0
  keepRows.forEach((r, k) => {
    const start = r === 0 ? 0 : batch.rowEnds[r - 1] as number
    const end = batch.rowEnds[r] as number
    copy.set(batch.copy.subarray(start, end), pos)
    pos += end - start
    rowEnds[k] = pos
    rowMessage[k] = batch.rowMessage[r] as number
    rowSpan[2 * k] = batch.rowSpan[2 * r] as number
    rowSpan[2 * k + 1] = batch.rowSpan[2 * r + 1] as number
    rowTimeMs[k] = batch.rowTimeMs[r] as number
    rowMachine[k] = batch.rowMachine[r] as number
  })
  return { ...batch, copy, rowEnds, rowMessage, rowSpan, rowTimeMs, rowMachine, rejections: batch.rejections.filter((j) => drop[j.index] !== 1) }
}

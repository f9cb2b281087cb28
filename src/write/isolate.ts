/**
 * Bisection of a batch that keeps failing the same way while the database takes other writes
 * (a probe write succeeded): the failure comes from some of its messages, not from the database.
 *
 *   [0 … n) fails with S ─▶ [0 … n/2) commits ─▶ settled
 *                        └▶ [n/2 … n) fails with S ─▶ … ─▶ {k} fails with S ─▶ {k} dead-lettered
 *                                                                               (db_rejected, detail S)
 *
 * Each part is its own transaction (the ledger records what each commits), so failures that come
 * from a batch's size (one lock per TimescaleDB chunk: 53200 when a batch spans thousands of days)
 * end with smaller parts that commit, not with innocent rows dead-lettered. At most 2n − 1
 * transactions for n messages; a message is dead-lettered only when it fails alone with S.
 * A part failing any other way (the database went away meanwhile) stops the bisection: what
 * committed is reported settled, the rest stays with the caller.
 *
 * Each committed part is handed to `onPart` as soon as its COMMIT returned, with its own commit
 * number (live_commits): the caller settles it and publishes it to the live feed as the
 * transaction it is, so resume cursors stay exact across a bisection.
 */
import type { Committed, ParsedBatch, Rejection } from '../contracts.js'
import { RejectCode } from '../errors.js'
import { withoutMessages, type BatchMeta, type CopyWriter } from './copy-writer.js'
import { classifyPgError, failureSignature } from './sqlstate.js'

/** The bisection's summary (for its log line and tests); each committed part went to onPart already. */
export interface IsolateResult {
  /** 1 = message settled (row, dead letter or ledger match) by a transaction that committed here. */
  readonly settled: Uint8Array
  readonly rows: number
  readonly rejections: Rejection[]
  readonly alreadyCommitted: number[]
  readonly transactions: number
  readonly durationMs: number
  /** Set when a part failed another way: its messages and the untried ones are not settled. */
  readonly error?: Error
}

/** A committed part: its result, and the messages it settled (1, indexed as meta.streamSeq). */
export type OnPart = (r: Committed, settled: Uint8Array) => void

export async function writeIsolating (writer: CopyWriter, batch: ParsedBatch, meta: BatchMeta, signature: string, onPart: OnPart = () => {}): Promise<IsolateResult> {
  const started = performance.now()
  const count = meta.streamSeq.length
  const settled = new Uint8Array(count)
  const rejections: Rejection[] = []
  const alreadyCommitted: number[] = []
  let rows = 0
  let transactions = 0
  const first: number[] = []
  for (let i = 0; i < count; i++) if (meta.include === undefined || meta.include[i] === 1) first.push(i)
  const stack = [first]
  const finish = (error?: Error): IsolateResult =>
    ({ settled, rows, rejections, alreadyCommitted, transactions, durationMs: performance.now() - started, ...(error === undefined ? {} : { error }) })

  while (stack.length > 0) {
    const part = stack.pop() as number[]
    if (part.length === 0) continue
    const include = new Uint8Array(count)
    for (const i of part) include[i] = 1
    const drop = include.map((v) => 1 - v)
    const r = await writer.write(withoutMessages(batch, drop), { ...meta, include })
    transactions++
    if (r.type === 'committed') {
      rows += r.rows
      rejections.push(...r.rejections)
      alreadyCommitted.push(...r.alreadyCommitted)
      for (const i of part) settled[i] = 1
      onPart(r, include)
      continue
    }
    const error = r.error
    if (classifyPgError(error) === 'away' || failureSignature(error) !== signature) return finish(error)
    if (part.length > 1) {
      const mid = part.length >> 1
      stack.push(part.slice(mid), part.slice(0, mid))
      continue
    }
    const index = part[0] as number
    const rejection: Rejection = { index, code: RejectCode.dbRejected, detail: `${signature}: ${error.message}`.slice(0, 500) }
    const letter: ParsedBatch = { ...withoutMessages(batch, new Uint8Array(count).fill(1)), rejections: [rejection] }
    const d = await writer.write(letter, { ...meta, include })
    transactions++
    if (d.type !== 'committed') return finish(d.error)
    rejections.push(...d.rejections)
    alreadyCommitted.push(...d.alreadyCommitted)
    settled[index] = 1
    onPart(d, include)
  }
  return finish()
}

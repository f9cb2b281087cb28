/**
 * Writes one parsed batch in one transaction:
 *
 *   BEGIN · SAVEPOINT · COPY sensor_data FROM STDIN (BINARY) · RELEASE · INSERT rejected_messages · COMMIT
 *
 * COPY refused for a data reason (SQLSTATE 22/23) → roll back to the savepoint and bisect the rows
 * until each refused row stands alone; those become dead letters and the rest commit. Any other
 * failure rolls the whole batch back and is reported transient: nothing of it is visible, so the
 * caller naks it. Results are only reported after COMMIT returned (pg-copy-streams `finish`).
 */
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import type { CommitResult, ParsedBatch, Rejection } from '../contracts.js'
import { RejectCode } from '../errors.js'
import { COPY_COLUMNS, COPY_HEADER, COPY_TRAILER } from '../parse/copy-encoder.js'
import { classifyPgError } from './sqlstate.js'
import { insertDeadLetters, type DeadLetter } from './dead-letters.js'

const COPY_SQL = `COPY sensor_data (${COPY_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`

export class CopyWriter {
  readonly #pool: pg.Pool

  constructor (pool: pg.Pool) {
    this.#pool = pool
  }

  /**
   * `deadLetterFor(rejection)` turns a rejection (from the worker, or a row PostgreSQL refused here)
   * into the dead-letter row stored in the same transaction.
   */
  async write (batch: ParsedBatch, deadLetterFor: (r: Rejection) => DeadLetter): Promise<CommitResult> {
    const started = performance.now()
    let client: pg.PoolClient
    try {
      client = await this.#pool.connect()
    } catch (err) {
      return { type: 'failed', error: err as Error, transient: true }
    }
    let broken: Error | undefined
    try {
      await client.query('BEGIN')
      const refused: Rejection[] = []
      const rows = batch.rowEnds.length
      if (rows > 0) await this.#copyRange(client, batch, 0, rows, refused)
      const all = refused.length === 0 ? batch.rejections : [...batch.rejections, ...refused]
      if (all.length > 0) await insertDeadLetters(client, all.map(deadLetterFor))
      await client.query('COMMIT')
      return { type: 'committed', rows: rows - refused.length, rejections: all, durationMs: performance.now() - started }
    } catch (err) {
      broken = err as Error
      await client.query('ROLLBACK').catch(() => {})
      return { type: 'failed', error: err as Error, transient: true }
    } finally {
      // After any failure the connection is destroyed rather than reused: it may be half-way through
      // a protocol exchange or attached to a server that is going away; a new one costs milliseconds.
      client.release(broken)
    }
  }

  /** COPY rows [lo, hi) under a savepoint; on a row-class error, bisect. Throws on anything else. */
  async #copyRange (client: pg.PoolClient, batch: ParsedBatch, lo: number, hi: number, refused: Rejection[]): Promise<void> {
    await client.query('SAVEPOINT copy_range')
    try {
      const start = lo === 0 ? 0 : batch.rowEnds[lo - 1] as number
      const end = batch.rowEnds[hi - 1] as number
      await copyBytes(client, batch.copy.subarray(start, end))
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
    await this.#copyRange(client, batch, lo, mid, refused)
    await this.#copyRange(client, batch, mid, hi, refused)
  }
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

/**
 * The COPY writer on the paths that fail: the ledger lock across a redelivery redo, a batch of
 * dead letters too large for one INSERT parameter, and the bisection of a batch whose rows fail
 * outside SQLSTATE classes 22/23.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import type { ParsedBatch, Rejection } from '../../src/contracts.js'
import { decodeBatch } from '../../src/parse/decode-batch.js'
import { CopyWriter } from '../../src/write/copy-writer.js'
import { writeIsolating } from '../../src/write/isolate.js'
import { classifyPgError, failureSignature } from '../../src/write/sqlstate.js'
import { json, pack, reading } from '../helpers/payloads.js'
import { refuseRows, stopRefusing } from '../helpers/refuse-rows.js'
import { createTestEnv, migratedPool, waitFor, type TestEnv } from '../helpers/test-env.js'

const FULL = process.env.FAULTS_FULL === '1'

describe('COPY writer failure paths', () => {
  let t: TestEnv
  let pool: pg.Pool
  const key = 'WRITE@2026-01-01T00:00:00Z'
  const deadLetterFor = (r: Rejection) => ({ subject: 'S.x', streamSeq: null, reason: r.code, detail: r.detail, payload: new Uint8Array() })

  before(async () => {
    t = await createTestEnv('WRITEFAIL')
    pool = await migratedPool(t)
  })
  after(async () => { await pool.end(); await t.cleanup() })

  const batchOf = (machine: string, seqs: number[], bad: ReadonlySet<number> = new Set()) => ({
    parsed: decodeBatch(pack(seqs.map((s) => json(reading(bad.has(s) ? 'CNC-BAD' : machine, s))))),
    seqs: Float64Array.from(seqs),
  })

  it('holds the per-stream lock until COMMIT when a redelivered batch is written again', async () => {
    const writer = new CopyWriter(pool, 2)
    const first = batchOf('LOCK', [1, 2, 3, 4])
    assert.equal((await writer.write(first.parsed, { streamKey: key, streamSeq: first.seqs, deadLetterFor })).type, 'committed')
    // The ledger INSERT (the last statement before COMMIT) now takes 1.5 s: long enough to look in.
    await pool.query(`CREATE FUNCTION slow_ledger () RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(1.5); RETURN NULL; END $$`)
    await pool.query('CREATE TRIGGER slow_ledger BEFORE INSERT ON ingest_ledger FOR EACH STATEMENT EXECUTE FUNCTION slow_ledger()')
    const spy = new pg.Client({ connectionString: t.databaseUrl })
    await spy.connect()
    try {
      const again = batchOf('LOCK', [3, 4, 5, 6]) // 3 and 4 committed: the redo path
      const writing = writer.write(again.parsed, { streamKey: key, streamSeq: again.seqs, deadLetterFor })
      await waitFor('the ledger insert to be running', async () => (await spy.query(
        "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%INSERT INTO ingest_ledger%'")).rowCount === 1, 10_000, 20)
      await spy.query('BEGIN')
      const { rows } = await spy.query<{ got: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS got', [key])
      await spy.query('ROLLBACK')
      assert.equal(rows[0]?.got, false, 'another session cannot take the stream lock before the writer commits')
      const r = await writing
      assert.ok(r.type === 'committed')
      assert.deepEqual(r.alreadyCommitted, [0, 1])
      assert.equal(r.rows, 2)
    } finally {
      await spy.end()
      await pool.query('DROP TRIGGER slow_ledger ON ingest_ledger')
    }
    const lines = (await pool.query("SELECT active_program_line AS n FROM sensor_data WHERE machine_id = 'LOCK' ORDER BY 1")).rows
    assert.deepEqual(lines.map((x) => x.n), [1, 2, 3, 4, 5, 6])
  })

  // 5,000 × 65 KB (650 M hex characters in one string before the fix) takes ~30 s here: full runs only.
  const letters = FULL ? 5_000 : 400
  it(`stores ${letters} dead letters of 65 KB in one batch (the INSERT is cut by bytes)`, async () => {
    const count = letters
    const payload = new Uint8Array(65_000).fill(0x41)
    const rejections: Rejection[] = []
    for (let i = 0; i < count; i++) rejections.push({ index: i, code: 'payload_too_large', detail: 'big' })
    const parsed: ParsedBatch = {
      copy: new Uint8Array(0),
      rowEnds: new Uint32Array(0),
      rowMessage: new Uint32Array(0),
      rowSpan: new Uint32Array(0),
      rowTimeMs: new Float64Array(0),
      rowMachine: new Uint32Array(0),
      machines: [],
      rejections,
      bytes: new Uint8Array(0),
      offsets: new Uint32Array(count + 1),
    }
    const seqs = Float64Array.from({ length: count }, (_, i) => 100_000 + i)
    const r = await new CopyWriter(pool, 1).write(parsed, {
      streamKey: key,
      streamSeq: seqs,
      deadLetterFor: (j) => ({ subject: 'S.big', streamSeq: seqs[j.index] ?? null, reason: j.code, detail: j.detail, payload }),
    })
    assert.equal(r.type, 'committed', r.type === 'failed' ? r.error.message : '')
    const [row] = (await pool.query("SELECT count(*)::int AS n, min(octet_length(payload)) AS len FROM rejected_messages WHERE subject = 'S.big'")).rows
    assert.equal(row.n, count)
    assert.equal(row.len, 65_000)
  })

  it('bisects a batch whose rows fail with XX000 and dead-letters only those rows', async () => {
    const query = (sql: string): Promise<unknown> => pool.query(sql)
    await refuseRows(query)
    try {
      const writer = new CopyWriter(pool, 1)
      const seqs = Array.from({ length: 1_000 }, (_, i) => 200_000 + i)
      const bad = new Set([200_100, 200_101, 200_777])
      const b = batchOf('BISECT', seqs, bad)
      const meta = { streamKey: key, streamSeq: b.seqs, deadLetterFor }
      const failed = await writer.write(b.parsed, meta)
      assert.ok(failed.type === 'failed')
      assert.equal(classifyPgError(failed.error), 'unknown', 'neither a row class nor the database away: a probe decides')
      const signature = failureSignature(failed.error)
      assert.equal(signature, 'SQLSTATE XX000')
      const parts: Array<{ commitNo: number, rows: number, settled: number }> = []
      const r = await writeIsolating(writer, b.parsed, meta, signature, (c, only) => parts.push({ commitNo: c.commitNo, rows: c.rows, settled: only.reduce((n, v) => n + v, 0) }))
      assert.equal(r.error, undefined)
      assert.equal(r.rows, 997)
      // Each committed part is reported as the transaction it is: its own commit number, in order.
      assert.equal(parts.reduce((n, p) => n + p.rows, 0), 997)
      assert.equal(parts.reduce((n, p) => n + p.settled, 0), 1_000, 'every message settled by exactly one part')
      assert.ok(parts.every((p, i) => i === 0 || p.commitNo > (parts[i - 1] as { commitNo: number }).commitNo), 'commit numbers ascending')
      assert.deepEqual(r.rejections.map((j) => [seqs[j.index], j.code]).sort(), [...bad].map((s) => [s, 'db_rejected']))
      assert.ok(r.rejections.every((j) => j.detail.startsWith('SQLSTATE XX000')))
      assert.ok(r.settled.every((v) => v === 1))
      assert.ok(r.transactions < 2 * 3 * Math.log2(1_000) + 3, `${r.transactions} transactions`)
      const [row] = (await pool.query("SELECT count(*)::int AS n FROM sensor_data WHERE machine_id = 'BISECT'")).rows
      assert.equal(row.n, 997)
      // Written once: the same batch again is matched by the ledger, rows and dead letters alike.
      const again = await writeIsolating(writer, b.parsed, meta, signature)
      assert.equal(again.alreadyCommitted.length, 1_000)
      assert.equal(again.rows, 0)
    } finally {
      await stopRefusing(query)
    }
  })

  it('classifies failures: data rows, database away, or unknown (probe decides)', () => {
    const e = (code?: string) => Object.assign(new Error('x'), code === undefined ? {} : { code })
    assert.equal(classifyPgError(e('22P02')), 'row')
    assert.equal(classifyPgError(e('23514')), 'row')
    for (const c of ['53100', '57P01', '08006', '55P03', '57014', '40P01', '25P03', '53300']) assert.equal(classifyPgError(e(c)), 'away', c)
    for (const c of ['53200', 'XX000', '42P01']) assert.equal(classifyPgError(e(c)), 'unknown', c)
    assert.equal(classifyPgError(new RangeError('Invalid string length')), 'unknown')
    assert.equal(failureSignature(new RangeError('Invalid string length')), 'RangeError')
    assert.equal(failureSignature(e('ECONNRESET')), 'Error ECONNRESET')
  })
})

import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type pg from 'pg'
import type { Rejection } from '../../src/contracts.js'
import { decodeBatch } from '../../src/parse/decode-batch.js'
import { CopyWriter } from '../../src/write/copy-writer.js'
import { pruneLedger, toRanges } from '../../src/write/ledger.js'
import { json, pack, reading } from '../helpers/payloads.js'
import { createTestEnv, migratedPool, type TestEnv } from '../helpers/test-env.js'

describe('ingest ledger (exactly-once effect of redeliveries)', () => {
  let t: TestEnv
  let pool: pg.Pool
  let writer: CopyWriter
  const key = 'LEDGER@2026-01-01T00:00:00Z'
  const deadLetterFor = (r: Rejection) => ({ subject: 'S.x', streamSeq: null, reason: r.code, detail: r.detail, payload: new Uint8Array() })

  before(async () => {
    t = await createTestEnv('LEDGER')
    pool = await migratedPool(t)
    writer = new CopyWriter(pool, 2)
  })
  after(async () => { await pool.end(); await t.cleanup() })

  const batchOf = (seqs: number[]) => ({
    parsed: decodeBatch(pack(seqs.map((s) => s === 13 ? '{bad' : json(reading('L', s))))),
    seqs: Float64Array.from(seqs),
  })
  const count = async () => Number((await pool.query('SELECT count(*) AS n FROM sensor_data')).rows[0].n)

  it('merges sequences into ranges', () => {
    assert.deepEqual(toRanges([5, 3, 4, 9, 10, 1]), [[1, 1], [3, 5], [9, 10]])
    assert.deepEqual(toRanges([1, 2, 3, 4], Uint8Array.from([1, 0, 1, 1])), [[1, 1], [3, 4]])
    assert.deepEqual(toRanges([]), [])
  })

  it('writes a redelivered batch once, and only the new part of a partly redelivered one', async () => {
    const first = batchOf([10, 11, 12, 13, 14])
    const r1 = await writer.write(first.parsed, { streamKey: key, streamSeq: first.seqs, deadLetterFor })
    assert.equal(r1.type, 'committed')
    assert.equal(await count(), 4)

    const again = batchOf([10, 11, 12, 13, 14])
    const r2 = await writer.write(again.parsed, { streamKey: key, streamSeq: again.seqs, deadLetterFor })
    assert.ok(r2.type === 'committed')
    assert.deepEqual(r2.alreadyCommitted, [0, 1, 2, 3, 4])
    assert.equal(r2.rows, 0)
    assert.equal(r2.rejections.length, 0, 'the dead letter is not written twice either')
    assert.equal(await count(), 4)

    const mixed = batchOf([14, 15, 12, 16])
    const r3 = await writer.write(mixed.parsed, { streamKey: key, streamSeq: mixed.seqs, deadLetterFor })
    assert.ok(r3.type === 'committed')
    assert.deepEqual(r3.alreadyCommitted, [0, 2])
    assert.equal(r3.rows, 2)
    assert.equal(await count(), 6)
    const rejected = Number((await pool.query('SELECT count(*) AS n FROM rejected_messages')).rows[0].n)
    assert.equal(rejected, 1)
  })

  it('writes a message once when two copies of it land in the same batch', async () => {
    const b = batchOf([30, 31, 30, 32])
    const r = await writer.write(b.parsed, { streamKey: key, streamSeq: b.seqs, deadLetterFor })
    assert.ok(r.type === 'committed')
    assert.deepEqual(r.alreadyCommitted, [2])
    assert.equal(r.rows, 3)
    const rows = (await pool.query('SELECT active_program_line AS n FROM sensor_data WHERE active_program_line >= 30 ORDER BY 1')).rows
    assert.deepEqual(rows.map((x) => x.n), [30, 31, 32])
  })

  it('does not match another stream (or a recreated one with the same name)', async () => {
    const b = batchOf([10, 11])
    const r = await writer.write(b.parsed, { streamKey: 'LEDGER@2026-02-02T00:00:00Z', streamSeq: b.seqs, deadLetterFor })
    assert.ok(r.type === 'committed')
    assert.equal(r.alreadyCommitted.length, 0)
    assert.equal(r.rows, 2)
  })

  it('aborts a write that outlives its timeout and reports it failed, committing nothing', async () => {
    const blocker = await pool.connect()
    try {
      await blocker.query('BEGIN')
      await blocker.query('LOCK TABLE sensor_data IN ACCESS EXCLUSIVE MODE')
      const b = batchOf([40, 41])
      const started = Date.now()
      const r = await new CopyWriter(pool, 1, 1_000).write(b.parsed, { streamKey: key, streamSeq: b.seqs, deadLetterFor })
      assert.equal(r.type, 'failed')
      assert.ok(r.type === 'failed')
      assert.ok(Date.now() - started < 10_000)
    } finally {
      await blocker.query('ROLLBACK')
      blocker.release()
    }
    const rows = (await pool.query('SELECT 1 FROM sensor_data WHERE active_program_line IN (40, 41)')).rowCount
    assert.equal(rows, 0)
  })

  it('prunes ranges at or below the ack floor', async () => {
    assert.equal(await pruneLedger(pool, key, 14, 3_600_000), 0, 'younger than the minimum age: kept')
    assert.equal(await pruneLedger(pool, key, 14, 0), 1)
    const left = (await pool.query('SELECT lo, hi FROM ingest_ledger WHERE stream_key = $1 ORDER BY lo', [key])).rows
    assert.deepEqual(left.map((r) => [Number(r.lo), Number(r.hi)]), [[15, 16], [30, 32]])
  })
})

import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type pg from 'pg'
import { committedThrough, pruneOldIdentities, recordCommitted } from '../../src/write/ledger.js'
import { createTestEnv, migratedPool, type TestEnv } from '../helpers/test-env.js'

describe('ingest ledger across stream identities', () => {
  let t: TestEnv
  let pool: pg.Pool
  before(async () => {
    t = await createTestEnv('LEDGERID')
    pool = await migratedPool(t)
  })
  after(async () => { await pool.end(); await t.cleanup() })

  it('finds where a recreated consumer can start: past the ranges contiguous with the ack floor', async () => {
    await recordCommitted(pool, 'A@1', [[1, 10], [11, 20], [15, 30], [40, 50]])
    assert.equal(await committedThrough(pool, 'A@1', 0), 30)
    assert.equal(await committedThrough(pool, 'A@1', 5), 30)
    assert.equal(await committedThrough(pool, 'A@1', 35), 35, 'a gap: nothing beyond the floor is known settled')
    assert.equal(await committedThrough(pool, 'A@1', 39), 50)
    assert.equal(await committedThrough(pool, 'A@2', 0), 0, 'another identity has its own ranges')
  })

  it('drops old ranges of earlier incarnations of the stream only', async () => {
    await recordCommitted(pool, 'S@1', [[1, 5]])
    await recordCommitted(pool, 'S@2', [[1, 5]])
    await recordCommitted(pool, 'S2@1', [[1, 5]])
    await recordCommitted(pool, 'S@3', [[1, 5]])
    await pool.query("UPDATE ingest_ledger SET committed_at = now() - interval '1 hour' WHERE stream_key <> 'S@3'")
    // S@3 is another incarnation, but recent: batches of it may still be in flight.
    assert.equal(await pruneOldIdentities(pool, 'S', 'S@2', 60_000), 1)
    const { rows } = await pool.query<{ k: string }>("SELECT DISTINCT stream_key AS k FROM ingest_ledger WHERE stream_key LIKE 'S%'")
    assert.deepEqual(rows.map((r) => r.k).sort(), ['S2@1', 'S@2', 'S@3'])
  })
})

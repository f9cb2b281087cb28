import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type pg from 'pg'
import { MaxDeliveriesListener } from '../../src/ack/max-deliveries.js'
import { createMetrics } from '../../src/metrics.js'
import { recordCommitted } from '../../src/write/ledger.js'
import { json, reading } from '../helpers/payloads.js'
import { createTestEnv, migratedPool, silentLog, waitFor, type TestEnv } from '../helpers/test-env.js'

// The advisory is what nats-server publishes when it gives a message up; here it is published by
// the test (making the server exhaust max_deliver takes minutes of backoff).
describe('messages JetStream gives up on (max_deliver)', () => {
  let t: TestEnv
  let pool: pg.Pool
  let listener: MaxDeliveriesListener
  const streamKey = 'MAXDEL@test'

  before(async () => {
    t = await createTestEnv('MAXDEL')
    pool = await migratedPool(t)
    listener = new MaxDeliveriesListener(t.nc, t.jsm, pool, { stream: t.stream, consumer: t.consumer, streamKey }, createMetrics(), silentLog)
  })
  after(async () => { listener.close(); await pool.end(); await t.cleanup() })

  const advise = (seq: number) => t.nc.publish(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${t.stream}.${t.consumer}`,
    JSON.stringify({ type: 'io.nats.jetstream.advisory.v1.max_deliver', stream: t.stream, consumer: t.consumer, stream_seq: seq, deliveries: 50 }))

  it('stores the given-up message as a dead letter with its bytes, unless the ledger has it', async () => {
    const js = t.jsm.jetstream()
    const payload = json(reading('CNC-GIVEN-UP', 1))
    const a = await js.publish(`${t.stream}.metrics`, payload)
    const b = await js.publish(`${t.stream}.metrics`, json(reading('CNC-COMMITTED', 2)))
    await recordCommitted(pool, streamKey, [[b.seq, b.seq]])
    advise(b.seq)
    advise(a.seq)
    await waitFor('the dead letter', async () => (await pool.query('SELECT 1 FROM rejected_messages')).rowCount === 1)
    await t.nc.flush()
    await new Promise((resolve) => setTimeout(resolve, 300))
    const { rows } = await pool.query('SELECT stream_seq, reason, subject, payload FROM rejected_messages')
    assert.equal(rows.length, 1)
    assert.equal(Number(rows[0].stream_seq), a.seq)
    assert.equal(rows[0].reason, 'max_deliveries')
    assert.equal(rows[0].subject, `${t.stream}.metrics`)
    assert.equal(rows[0].payload.toString(), payload)
  })
})

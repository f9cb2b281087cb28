/**
 * Range acks (nats.ack_policy all): the service acks by advancing the ledger's
 * contiguous commit floor. Every reading ends committed once, dead letters included, with far fewer
 * acks than messages; a hole no delivery can fill (a message deleted from the stream before it was
 * delivered) is recorded as settled and does not stop acking; an existing explicit consumer keeps
 * per-message acks.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { AckPolicy } from '@nats-io/jetstream'
import { ensureConsumer } from '../../src/ingest/jetstream-setup.js'
import { json, reading } from '../helpers/payloads.js'
import { withService } from '../helpers/service.js'
import { createTestEnv, prefill, silentLog, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'

async function counts (t: TestEnv): Promise<{ rows: number, distinct: number, rejected: number }> {
  const [r] = await t.query<{ rows: string, distinct: string }>('SELECT count(*) AS rows, count(DISTINCT (machine_id, active_program_line)) AS distinct FROM sensor_data')
  const [d] = await t.query<{ n: string }>('SELECT count(*) AS n FROM rejected_messages')
  return { rows: Number(r?.rows), distinct: Number(r?.distinct), rejected: Number(d?.n) }
}

describe('range acks (ack policy all)', () => {
  let t: TestEnv
  beforeEach(async () => { t = await createTestEnv('ACKALL') })
  afterEach(async () => { await t.cleanup() })

  it('settles every message, dead letters included, with one ack per floor advance', async () => {
    const payloads: string[] = []
    for (let n = 0; n < 6_000; n++) payloads.push(n % 1_000 === 999 ? '{"not":"a reading"}' : json(reading(`CNC-${n % 7}`, n)))
    await prefill(t, payloads)
    await withService(t, { CNC_NATS_ACK_POLICY: 'all', CNC_INGEST_BATCH_SIZE: '500' }, async (service) => {
      await waitSettled(t)
      assert.deepEqual(await counts(t), { rows: 5_994, distinct: 5_994, rejected: 6 })
      const ci = await t.consumerInfo()
      assert.equal(ci.config.ack_policy, AckPolicy.All)
      assert.equal(ci.ack_floor.stream_seq, 6_000)
      assert.equal(ci.num_ack_pending, 0)
      assert.equal(ci.num_redelivered, 0)
      const ranged = await service.metrics.rangeAcked.get()
      assert.equal(ranged.values[0]?.value, 6_000, 'every message settled by a range ack')
    })
  })

  it('records a message deleted before delivery as settled and acks past it', async () => {
    await prefill(t, Array.from({ length: 1_000 }, (_, n) => json(reading('CNC-HOLE', n))))
    // Sequences 400 and 401 are gone before the consumer ever delivers them: the ledger can never get them from a commit.
    await t.jsm.streams.deleteMessage(t.stream, 400)
    await t.jsm.streams.deleteMessage(t.stream, 401)
    await withService(t, { CNC_NATS_ACK_POLICY: 'all', CNC_INGEST_BATCH_SIZE: '100' }, async () => {
      await waitFor('the ack floor to pass the hole', async () => (await t.consumerInfo()).ack_floor.stream_seq === 1_000, 30_000, 100)
      const c = await counts(t)
      assert.deepEqual(c, { rows: 998, distinct: 998, rejected: 0 })
      const ci = await t.consumerInfo()
      assert.equal(ci.num_ack_pending, 0)
      const [hole] = await t.query<{ n: string }>('SELECT count(*) AS n FROM ingest_ledger WHERE lo <= 400 AND hi >= 401')
      assert.equal(Number(hole?.n), 1, 'the hole is in the ledger')
    })
  })

  it('keeps per-message acks on an existing explicit consumer when all is configured', async () => {
    await ensureConsumer(t.jsm, t.config({ CNC_NATS_ACK_POLICY: 'explicit' }), silentLog)
    await prefill(t, Array.from({ length: 1_500 }, (_, n) => n === 700 ? 'not json' : json(reading('CNC-EXPL', n))))
    await withService(t, { CNC_NATS_ACK_POLICY: 'all' }, async (service) => {
      await waitSettled(t)
      assert.deepEqual(await counts(t), { rows: 1_499, distinct: 1_499, rejected: 1 })
      const ci = await t.consumerInfo()
      assert.equal(ci.config.ack_policy, AckPolicy.Explicit)
      assert.equal(ci.num_ack_pending, 0)
      assert.equal((await service.metrics.rangeAcked.get()).values[0]?.value ?? 0, 0)
    })
  })
})

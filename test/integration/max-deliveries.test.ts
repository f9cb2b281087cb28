import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { jetstreamManager } from '@nats-io/jetstream'
import { AckPolicy } from '@nats-io/jetstream'
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node'
import pg from 'pg'
import { MaxDeliveriesListener } from '../../src/ack/max-deliveries.js'
import type { Rejection } from '../../src/contracts.js'
import { createMetrics } from '../../src/metrics.js'
import { decodeBatch } from '../../src/parse/decode-batch.js'
import { CopyWriter } from '../../src/write/copy-writer.js'
import { recordCommitted } from '../../src/write/ledger.js'
import { json, pack, reading } from '../helpers/payloads.js'
import { NATS_URL, createTestEnv, migratedPool, silentLog, waitFor, type TestEnv } from '../helpers/test-env.js'

// The advisory is what nats-server publishes when it gives a message up; here it is published by
// the test (making the server exhaust max_deliver takes minutes of backoff).
describe('messages JetStream gives up on (max_deliver)', () => {
  let t: TestEnv
  let pool: pg.Pool
  let listener: MaxDeliveriesListener
  const streamKey = 'MAXDEL@test'
  // A second instance: its own NATS connection and database pool.
  let nc2: NatsConnection
  let pool2: pg.Pool
  let listener2: MaxDeliveriesListener

  before(async () => {
    t = await createTestEnv('MAXDEL')
    pool = await migratedPool(t)
    const opts = { stream: t.stream, consumer: t.consumer, streamKey: () => streamKey }
    listener = new MaxDeliveriesListener(t.nc, t.jsm, pool, opts, createMetrics(), silentLog)
    nc2 = await connect({ servers: NATS_URL, noAsyncTraces: true })
    pool2 = new pg.Pool({ connectionString: t.databaseUrl, max: 2 })
    listener2 = new MaxDeliveriesListener(nc2, await jetstreamManager(nc2), pool2, opts, createMetrics(), silentLog)
    await nc2.flush()
  })
  after(async () => {
    await listener.close()
    await listener2.close()
    await pool.end()
    await pool2.end()
    await nc2.close()
    await t.cleanup()
  })

  const advise = (seq: number, nc: NatsConnection = t.nc) => nc.publish(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${t.stream}.${t.consumer}`,
    JSON.stringify({ type: 'io.nats.jetstream.advisory.v1.max_deliver', stream: t.stream, consumer: t.consumer, stream_seq: seq, deliveries: 50, timestamp: new Date().toISOString() }))
  const letters = async (seq: number) => Number((await pool.query('SELECT count(*) AS n FROM rejected_messages WHERE stream_seq = $1', [seq])).rows[0].n)
  /**
   * Waits until both listeners have nothing queued (every advisory published so far handled). A flush
   * is a round trip: once a connection's flush returns, the server has routed what it published, and
   * what the server routed to a connection reaches it before the answer to its own later flush.
   */
  const settled = async () => {
    await nc2.flush()
    await t.nc.flush()
    await nc2.flush()
    await waitFor('both listeners idle', () => listener.queued === 0 && listener2.queued === 0)
  }

  it('stores the given-up message as a dead letter with its bytes, unless the ledger has it', async () => {
    const js = t.jsm.jetstream()
    const payload = json(reading('CNC-GIVEN-UP', 1))
    const a = await js.publish(`${t.stream}.metrics`, payload)
    const b = await js.publish(`${t.stream}.metrics`, json(reading('CNC-COMMITTED', 2)))
    await recordCommitted(pool, streamKey, [[b.seq, b.seq]])
    advise(b.seq)
    advise(a.seq)
    await waitFor('the dead letter', async () => (await letters(a.seq)) === 1)
    await settled()
    const { rows } = await pool.query('SELECT stream_seq, reason, subject, payload FROM rejected_messages WHERE stream_seq IN ($1, $2)', [a.seq, b.seq])
    assert.equal(rows.length, 1, 'no dead letter for the committed message')
    assert.equal(Number(rows[0].stream_seq), a.seq)
    assert.equal(rows[0].reason, 'max_deliveries')
    assert.equal(rows[0].subject, `${t.stream}.metrics`)
    assert.equal(rows[0].payload.toString(), payload)
  })

  it('two instances, the advisory seen several times: one dead letter', async () => {
    const js = t.jsm.jetstream()
    const seqs: number[] = []
    for (let i = 0; i < 20; i++) seqs.push((await js.publish(`${t.stream}.metrics`, json(reading('CNC-TWICE', i)))).seq)
    // Each advisory three times, from both connections: the queue group splits them between the two
    // listeners, and the ledger makes a repeat find the first one's dead letter.
    for (const s of seqs) { advise(s); advise(s, nc2); advise(s) }
    await waitFor('every dead letter', async () => {
      const { rows } = await pool.query('SELECT count(DISTINCT stream_seq) AS n FROM rejected_messages WHERE stream_seq = ANY($1)', [seqs])
      return Number(rows[0].n) === seqs.length
    })
    await settled()
    const { rows } = await pool.query('SELECT stream_seq, count(*) AS n FROM rejected_messages WHERE stream_seq = ANY($1) GROUP BY 1 HAVING count(*) > 1', [seqs])
    assert.deepEqual(rows, [], 'no message has two dead letters')
  })

  it('a message dead-lettered first is not written as a row when a held copy of it commits later', async () => {
    const js = t.jsm.jetstream()
    const seq = (await js.publish(`${t.stream}.metrics`, json(reading('CNC-LATE', 7)))).seq
    advise(seq)
    await waitFor('the dead letter', async () => (await letters(seq)) === 1)
    // The copy a stalled writer still held, written after JetStream gave the message up.
    const deadLetterFor = (r: Rejection) => ({ subject: 'S.x', streamSeq: null, reason: r.code, detail: r.detail, payload: new Uint8Array() })
    const result = await new CopyWriter(pool, 1).write(decodeBatch(pack([json(reading('CNC-LATE', 7))])), { streamKey, streamSeq: Float64Array.of(seq), deadLetterFor })
    assert.equal(result.type, 'committed')
    assert.ok(result.type === 'committed' && result.alreadyCommitted.length === 1, 'reported as already settled (acked, no row)')
    const rows = Number((await pool.query("SELECT count(*) AS n FROM sensor_data WHERE machine_id = 'CNC-LATE'")).rows[0].n)
    assert.equal(rows, 0, 'never both a row and a dead letter')
  })

  it('stores a message the server itself gave up on (a real advisory)', async () => {
    // The consumer the listeners watch, with max_deliver 2 and a 1 s ack wait: fetched twice, never acked.
    await t.jsm.consumers.add(t.stream, { durable_name: t.consumer, ack_policy: AckPolicy.Explicit, max_deliver: 2, ack_wait: nanos(1_000) })
    const js = t.jsm.jetstream()
    const seq = (await js.publish(`${t.stream}.metrics`, json(reading('CNC-REAL', 1)))).seq
    const consumer = await js.consumers.get(t.stream, t.consumer)
    // The server gives up (and advises) when a pull would deliver it a third time: keep pulling.
    await waitFor('the dead letter', async () => {
      const it = await consumer.fetch({ max_messages: 1, expires: 1_000 })
      for await (const m of it) assert.ok(m.seq > 0) // never acked
      return (await letters(seq)) === 1
    }, 30_000, 0)
    const { rows } = await pool.query('SELECT reason, detail FROM rejected_messages WHERE stream_seq = $1', [seq])
    assert.equal(rows[0].reason, 'max_deliveries')
    assert.match(rows[0].detail, /delivered it 2 times/)
  })

  it('gives a group up after its bounded retries when the database stays away', async () => {
    const js = t.jsm.jetstream()
    const seq = (await js.publish(`${t.stream}.metrics`, json(reading('CNC-NODB', 1)))).seq
    const nowhere = new pg.Pool({ connectionString: 'postgres://root@127.0.0.1:1/none', max: 1, connectionTimeoutMillis: 500 })
    const nc3 = await connect({ servers: NATS_URL, noAsyncTraces: true })
    // A stream name no other listener watches, so this one alone gets the advisory.
    const lonely = new MaxDeliveriesListener(nc3, await jetstreamManager(nc3), nowhere,
      { stream: t.stream, consumer: 'LONELY', streamKey: () => streamKey, retryFirstMs: 10, maxAttempts: 3 }, createMetrics(), silentLog)
    try {
      await nc3.flush()
      t.nc.publish(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${t.stream}.LONELY`,
        JSON.stringify({ stream: t.stream, consumer: 'LONELY', stream_seq: seq, deliveries: 50, timestamp: new Date().toISOString() }))
      await t.nc.flush()
      await nc3.flush()
      await waitFor('the listener to give the group up', () => lonely.queued === 0, 30_000)
      assert.equal(await letters(seq), 0)
    } finally {
      await lonely.close(100)
      await nowhere.end()
      await nc3.close()
    }
  })

  it('ignores an advisory older than the message now at that sequence (stream recreated)', async () => {
    const js = t.jsm.jetstream()
    const sent = new Date(Date.now() - 60_000).toISOString()
    const seq = (await js.publish(`${t.stream}.metrics`, json(reading('CNC-NEWER', 1)))).seq
    t.nc.publish(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${t.stream}.${t.consumer}`,
      JSON.stringify({ stream: t.stream, consumer: t.consumer, stream_seq: seq, deliveries: 50, timestamp: sent }))
    await settled()
    assert.equal(await letters(seq), 0)
  })
})

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { BAD_PAYLOADS, json, reading } from '../helpers/payloads.js'
import { withService } from '../helpers/service.js'
import { createTestEnv, prefill, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'

const MACHINES = ['CNC-001', 'CNC-002', 'CNC-003', 'CNC-004']

function validSet (perMachine: number): string[] {
  const out: string[] = []
  for (let n = 0; n < perMachine; n++) for (const m of MACHINES) out.push(json(reading(m, n)))
  return out
}

async function rowCounts (t: TestEnv): Promise<{ rows: number, distinct: number }> {
  const [r] = await t.query<{ rows: string, distinct: string }>('SELECT count(*) AS rows, count(DISTINCT (machine_id, active_program_line)) AS distinct FROM sensor_data')
  return { rows: Number(r?.rows), distinct: Number(r?.distinct) }
}

describe('ingest pipeline against NATS and PostgreSQL', () => {
  // Each test gets its own stream, consumer and database.
  let t: TestEnv
  beforeEach(async () => { t = await createTestEnv('INGEST') })
  afterEach(async () => { await t.cleanup() })

  it('stores exactly the valid readings, dead-letters every bad message with its reason, and settles all', async () => {
    // 20,000 valid readings with every class of bad message in the middle.
    const valid = validSet(5000)
    const proto = '{"__proto__":{"isAdmin":true},"machine_id":"CNC-PROTO","timestamp":"2025-07-13T10:00:00Z","temperature":1,"spindle_speed":2,"active_program_line":1}'
    const payloads: Array<string | Uint8Array> = [...valid.slice(0, 1000), ...BAD_PAYLOADS.map((b) => b.payload), proto, ...valid.slice(1000)]
    await prefill(t, payloads)
    await withService(t, { CNC_INGEST_BATCH_SIZE: '700', CNC_INGEST_LINGER_MS: '20', CNC_NATS_MAX_PAYLOAD_BYTES: '65536' }, async () => {
      await waitSettled(t)
      const perMachine = await t.query<{ machine_id: string, n: string }>('SELECT machine_id, count(*) AS n FROM sensor_data GROUP BY 1 ORDER BY 1')
      assert.deepEqual(perMachine.map((r) => [r.machine_id, Number(r.n)]), [...MACHINES.map((m) => [m, 5000]), ['CNC-PROTO', 1]])
      const rejected = await t.query<{ subject: string, stream_seq: string, reason: string, detail: string, payload: Buffer }>(
        'SELECT subject, stream_seq, reason, detail, payload FROM rejected_messages ORDER BY stream_seq')
      assert.deepEqual(rejected.map((r) => r.reason), BAD_PAYLOADS.map((b) => b.reason))
      rejected.forEach((r, i) => {
        const bad = BAD_PAYLOADS[i]
        assert.ok(bad)
        assert.equal(r.subject, `${t.stream}.metrics`)
        assert.equal(Number(r.stream_seq), 1001 + i, 'stream sequence of the dead letter')
        if (bad.reason === 'payload_too_large') {
          // Only a prefix of an oversized payload is kept; its length and digest are in the detail.
          const whole = Buffer.from(bad.payload)
          assert.deepEqual(r.payload, whole.subarray(0, 1024), `payload prefix of ${bad.name}`)
          assert.match(r.detail, new RegExp(`payload is ${whole.length} bytes; .*sha256 ${createHash('sha256').update(whole).digest('hex')}`))
        } else {
          assert.deepEqual(r.payload, Buffer.from(bad.payload), `payload bytes of ${bad.name}`)
        }
        assert.ok(r.detail.length > 0)
      })
      const ci = await t.consumerInfo()
      assert.equal(ci.num_pending, 0)
      assert.equal(ci.num_ack_pending, 0)
      assert.equal(ci.num_redelivered, 0)
    })
  })

  it('holds and retries while the database drops its connections, then commits every reading once', async () => {
    const valid = validSet(5000)
    await prefill(t, valid)
    await withService(t, {
      CNC_INGEST_BATCH_SIZE: '1000',
      CNC_NATS_NAK_DELAY_MS: '200',
      CNC_INGEST_MAX_IN_FLIGHT: '2',
      CNC_INGEST_WRITE_TIMEOUT_MS: '10000',
      // Seen under coverage: a nak sent within milliseconds of delivery was not honoured by nats-server 2.9
      // and its messages came back only at ack_wait; a short ack_wait keeps the test within its wait.
      CNC_NATS_ACK_WAIT_MS: '5000',
      CNC_NATS_BACKOFF_MS: '5000'
    }, async (service) => {
      // Kill the writer's connections a few times while batches are being written.
      for (let i = 0; i < 4; i++) {
        await waitFor('some rows', async () => (await rowCounts(t)).rows > i * 2000, 20_000, 10)
        await t.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cnc-monitor-ingest' AND datname = current_database()")
      }
      await waitSettled(t, 60_000)
      const counts = await rowCounts(t)
      assert.equal(counts.distinct, valid.length, 'every reading stored')
      assert.equal(counts.rows, valid.length, 'no reading stored twice')
      // Failed batches are held and retried in place (pipeline.ts), never nak'd into JetStream's backoff.
      const retries = (await service.metrics.writeRetries.get()).values[0]?.value ?? 0
      assert.ok(retries > 0, 'some batches were retried')
      assert.equal((await service.metrics.nakd.get()).values[0]?.value ?? 0, 0, 'nothing nak\'d')
    })
  })
  it('holds and retries, instead of nak\'ing, batches whose messages are at max_deliver', async () => {
    const valid = validSet(2000)
    await prefill(t, valid)
    // max_deliver 2: every first delivery is one nak away from being given up by JetStream.
    await withService(t, { CNC_INGEST_BATCH_SIZE: '1000', CNC_NATS_MAX_DELIVER: '2', CNC_NATS_BACKOFF_MS: '', CNC_NATS_ACK_WAIT_MS: '30000' }, async (service) => {
      for (let i = 0; i < 3; i++) {
        await waitFor('some rows', async () => (await rowCounts(t)).rows > i * 1500, 20_000, 10)
        await t.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cnc-monitor-ingest' AND datname = current_database()")
      }
      await waitSettled(t, 60_000)
      const counts = await rowCounts(t)
      assert.equal(counts.distinct, valid.length, 'every reading stored')
      assert.equal(counts.rows, valid.length, 'none stored twice')
      assert.equal((await service.metrics.nakd.get()).values[0]?.value ?? 0, 0, 'nothing nak\'d')
    })
  })
})

/**
 * Process guard: an exception nobody expected while a batch is processed (here the ledger-key
 * lookup throws for the first batches) fails that batch only. Its messages are nak'd, JetStream
 * redelivers them, and every reading ends committed once; the process is not taken down.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type pg from 'pg'
import { Settler } from '../../src/ack/settle.js'
import { ensureConsumer } from '../../src/ingest/jetstream-setup.js'
import { PullSource } from '../../src/ingest/pull-source.js'
import { createMetrics } from '../../src/metrics.js'
import { ParserPool } from '../../src/parse/parser-pool.js'
import { Pipeline } from '../../src/pipeline.js'
import { CopyWriter } from '../../src/write/copy-writer.js'
import { probeWrite } from '../../src/write/database.js'
import { json, reading } from '../helpers/payloads.js'
import { createTestEnv, migratedPool, prefill, silentLog, waitSettled, type TestEnv } from '../helpers/test-env.js'

describe('pipeline process guard', () => {
  let t: TestEnv
  let pool: pg.Pool
  before(async () => {
    t = await createTestEnv('GUARD')
    pool = await migratedPool(t)
  })
  after(async () => { await pool.end(); await t.cleanup() })

  it('naks a batch whose processing throws, and stores every reading once after redelivery', async () => {
    const total = 2_000
    await prefill(t, Array.from({ length: total }, (_, n) => json(reading('GUARD', n))))
    // Per-message acks (the Settler below has no AckFloor): the consumer must be created explicit to match.
    const cfg = t.config({ CNC_NATS_ACK_POLICY: 'explicit', CNC_INGEST_BATCH_SIZE: '500', CNC_NATS_NAK_DELAY_MS: '100', CNC_NATS_ACK_WAIT_MS: '5000', CNC_NATS_BACKOFF_MS: '5000' })
    await ensureConsumer(t.jsm, cfg, silentLog)
    const metrics = createMetrics()
    const parser = new ParserPool(1, 2)
    let throwsLeft = 2
    const unhandled: unknown[] = []
    const onUnhandled = (err: unknown): void => { unhandled.push(err) }
    process.on('unhandledRejection', onUnhandled)
    const pipeline = new Pipeline(parser, new CopyWriter(pool, 2), new Settler(t.nc), metrics, silentLog, {
      maxInFlight: 2,
      ackWaitMs: 5_000,
      nakDelayMs: 100,
      streamKey: () => {
        if (throwsLeft-- > 0) throw new TypeError('simulated bug in the ingest path')
        return `${t.stream}@test`
      },
      probeWrite: () => probeWrite(t.databaseUrl),
      retryMaxBackoffMs: 2_000,
      maxWriteAttempts: 3,
    })
    const source = new PullSource(t.nc, {
      maxHoldMs: 1_000, stream: t.stream, consumer: t.consumer, batchSize: 500, lingerMs: 20, maxPayloadBytes: 65_536, maxBatchBytes: 8_388_608,
    }, pipeline.accept, pipeline.ready, metrics, silentLog)
    source.start()
    try {
      await waitSettled(t, 60_000)
    } finally {
      await source.stop()
      await pipeline.close(10_000)
      await parser.close()
      process.off('unhandledRejection', onUnhandled)
    }
    const [r] = await t.query<{ rows: number, distinct: number }>('SELECT count(*)::int AS rows, count(DISTINCT active_program_line)::int AS distinct FROM sensor_data')
    assert.deepEqual(r, { rows: total, distinct: total })
    assert.ok(((await metrics.nakd.get()).values[0]?.value ?? 0) > 0, 'the failed batches were nak\'d')
    assert.deepEqual(unhandled, [])
  })
})

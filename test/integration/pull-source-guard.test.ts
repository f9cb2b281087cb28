/**
 * The pull source's NATS callback is guarded: an exception while taking a message in (here: the
 * batch consumer throws on the first batch) is logged, does not reach nats.js or end the process,
 * and the message is not lost — it stays unacked and JetStream redelivers it after ack_wait.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { pino } from 'pino'
import type { IngestBatch } from '../../src/ingest/batch-builder.js'
import { ensureConsumer } from '../../src/ingest/jetstream-setup.js'
import { PullSource } from '../../src/ingest/pull-source.js'
import { createMetrics } from '../../src/metrics.js'
import { json, reading } from '../helpers/payloads.js'
import { createTestEnv, prefill, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'

describe('pull source callback guard', () => {
  let t: TestEnv
  beforeEach(async () => { t = await createTestEnv('GUARD') })
  afterEach(async () => { await t.cleanup() })

  it('logs an exception thrown while taking a message in, and the message comes back', async () => {
    // The test acks each message itself: the consumer must be created with per-message acks.
    const cfg = t.config({ CNC_NATS_ACK_POLICY: 'explicit', CNC_NATS_ACK_WAIT_MS: '1000', CNC_NATS_BACKOFF_MS: '1000' })
    await ensureConsumer(t.jsm, cfg, pino({ level: 'silent' }))
    const lines: string[] = []
    const log = pino({ level: 'error' }, new Writable({ write (chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done() } }))
    await prefill(t, [1, 2, 3].map((n) => json(reading('G', n))))

    const seen: number[] = []
    let calls = 0
    const onBatch = (b: IngestBatch): void => {
      calls++
      if (calls === 1) throw new Error('simulated failure taking a batch in')
      for (let i = 0; i < b.replies.length; i++) {
        seen.push(b.streamSeq[i] as number)
        t.nc.publish(b.replies[i] as string, '+ACK')
      }
    }
    const source = new PullSource(t.nc, {
      maxHoldMs: 100, stream: t.stream, consumer: t.consumer, batchSize: 1, lingerMs: 5, maxPayloadBytes: 65_536, maxBatchBytes: 1_048_576,
    }, onBatch, () => true, createMetrics(), log)
    source.start()
    try {
      await waitFor('all three messages handed on', () => new Set(seen).size === 3, 30_000)
      assert.deepEqual([...new Set(seen)].sort(), [1, 2, 3])
      assert.ok(lines.some((l) => l.includes('simulated failure taking a batch in')), 'the exception was logged')
      assert.equal(source.state, 'consuming')
      await waitSettled(t)
    } finally {
      await source.stop()
    }
  })
})

/**
 * The identity gate between the pull source and the pipeline, against a real JetStream: a batch goes
 * on only once a check made after it arrived confirmed the stream; after the stream is recreated,
 * batches that may hold the old stream's messages are nak'd, and the new identity takes effect only
 * once the pipeline holds no batch of the old one.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { IngestBatch } from '../../src/ingest/batch-builder.js'
import { ensureConsumer, ensureStream } from '../../src/ingest/jetstream-setup.js'
import { StreamIdentity } from '../../src/ingest/stream-identity.js'
import { pack } from '../helpers/payloads.js'
import { createTestEnv, silentLog, waitFor, type TestEnv } from '../helpers/test-env.js'

/** A one-message batch whose reply subject names it. */
function batch (name: string, receivedAt: number): IngestBatch {
  return { replies: [name], subjects: ['S.x'], raw: pack(['{}']), streamSeq: Float64Array.of(1), redelivered: 0, maxDelivered: 1, pendingAfter: 0, receivedAt }
}

describe('stream identity gate', () => {
  let t: TestEnv
  before(async () => { t = await createTestEnv('IDENT') })
  after(async () => { await t.cleanup() })

  it('holds, naks or hands on each batch by the identity confirmed after it arrived', async () => {
    const cfg = t.config()
    const key0 = await ensureStream(t.jsm, t.stream, silentLog)
    await ensureConsumer(t.jsm, cfg, silentLog)
    let idle = true
    const handed: string[] = []
    const nakd: string[] = []
    let repulls = 0
    const id = new StreamIdentity({
      jsm: t.jsm,
      config: cfg,
      initialKey: key0,
      pipelineIdle: () => idle,
      handOn: (b) => handed.push(b.replies[0] as string),
      nak: (r) => nakd.push(...r),
      keepAlive: () => {},
      consumerBack: () => { repulls++ },
      settledThrough: async (_key, after) => after,
      log: silentLog,
    })
    id.start()
    try {
      id.admit(batch('a', Date.now()))
      await waitFor('batch a handed on', () => handed.includes('a'))
      assert.equal(id.key, key0)
      assert.equal(id.problem, null)

      // The operator recreates the stream and its consumer; the pipeline still holds an old batch.
      const beforeChange = Date.now()
      await t.jsm.streams.delete(t.stream)
      const key1 = await ensureStream(t.jsm, t.stream, silentLog)
      await ensureConsumer(t.jsm, cfg, silentLog)
      assert.notEqual(key1, key0)
      idle = false

      id.admit(batch('old', beforeChange))
      await waitFor('the batch received before the change to be nak\'d', () => nakd.includes('old'))
      assert.equal(id.problem, 'stream recreated')
      assert.equal(id.key, key0, 'batches of the old stream in the pipeline keep their identity')

      await new Promise((resolve) => setTimeout(resolve, 2)) // a later millisecond than the change seen
      id.admit(batch('new', Date.now()))
      // A marker admitted after it is nak'd only by a check that began after 'new' arrived.
      id.admit(batch('marker', beforeChange))
      await waitFor('a check after the new batch', () => nakd.includes('marker'))
      assert.ok(!handed.includes('new'), 'held while the pipeline has batches of the old stream')
      assert.ok(!nakd.includes('new'), 'received after the change was seen: not nak\'d')

      idle = true
      await waitFor('the new batch handed on', () => handed.includes('new'))
      assert.equal(id.key, key1)
      await waitFor('ready again', () => id.problem === null)
      assert.ok(repulls > 0, 'the source was told to pull afresh')
      assert.deepEqual(handed, ['a', 'new'])
    } finally {
      assert.equal(await id.close(1_000), true)
    }
  })

  it('reports the consumer missing until it could be recreated, then starts it after what is settled', async () => {
    const cfg = t.config()
    const key = await ensureStream(t.jsm, t.stream, silentLog)
    await ensureConsumer(t.jsm, cfg, silentLog)
    let ledgerAnswers = false
    const id = new StreamIdentity({
      jsm: t.jsm,
      config: cfg,
      initialKey: key,
      pipelineIdle: () => true,
      handOn: () => {},
      nak: () => {},
      keepAlive: () => {},
      consumerBack: () => {},
      // The database is away at first: the consumer cannot be recreated at the right place yet.
      settledThrough: async (_key, after) => {
        if (!ledgerAnswers) throw new Error('database unavailable')
        return after + 41
      },
      log: silentLog,
    })
    id.start()
    try {
      await t.jsm.consumers.delete(t.stream, t.consumer)
      id.suspect()
      await waitFor('the consumer reported missing', () => id.problem === 'missing')
      await assert.rejects(t.consumerInfo(), 'not recreated from the first message meanwhile')
      ledgerAnswers = true
      await waitFor('ready again', () => id.problem === null, 30_000)
      const ci = await t.consumerInfo()
      assert.equal(ci.config.opt_start_seq, 42)
    } finally {
      await id.close(1_000)
    }
  })
})

/**
 * PullSource against a fake connection: it pulls only what the admission grants (messages and bytes),
 * pulls again on the pipeline's wake and when the server says a request ended, hands on full
 * batches, and stop() waits for what is owed (one promise for every caller).
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import type { IngestBatch } from '../../src/ingest/batch-builder.js'
import { PullSource, type SourceOptions } from '../../src/ingest/pull-source.js'
import { createMetrics } from '../../src/metrics.js'
import { FakeAdmission, FakeConnection, quiet } from './ingest-fakes.js'

const OPTS: SourceOptions = { maxHoldMs: 10_000, stream: 'S', consumer: 'C', batchSize: 2, lingerMs: 60_000, maxPayloadBytes: 65_536, maxBatchBytes: 1_048_576 }

function source (admission: FakeAdmission | (() => boolean), onBatch?: (b: IngestBatch) => void, log = quiet): { nc: FakeConnection, src: PullSource, batches: IngestBatch[] } {
  const nc = new FakeConnection()
  const batches: IngestBatch[] = []
  const src = new PullSource(nc, OPTS, onBatch ?? ((b) => batches.push(b)), admission, createMetrics(), log)
  return { nc, src, batches }
}

/** stop(), then the server ends the open requests (the source waits for what it is owed). */
async function stopNow (nc: FakeConnection, src: PullSource): Promise<void> {
  const stopped = src.stop()
  nc.status(408, 'Request Timeout', { messages: 1_000_000, bytes: 1_000_000_000 })
  await stopped
}

describe('PullSource', () => {
  it('pulls two batches at the byte cap when nothing bounds it, and hands on full batches', async () => {
    const { nc, src, batches } = source(() => true)
    src.start()
    const [pull] = nc.pulls()
    assert.equal(nc.published[0]?.subject, '$JS.API.CONSUMER.MSG.NEXT.S.C')
    assert.equal(pull?.batch, 4)
    assert.equal(pull?.max_bytes, 2 * 1_048_576 + 65_536)
    for (let seq = 1; seq <= 4; seq++) nc.deliver(seq)
    assert.deepEqual(batches.map((b) => [...b.streamSeq]), [[1, 2], [3, 4]])
    assert.equal(nc.pulls().length, 2, 'owed fell below one batch: pulled again')
    await stopNow(nc, src)
  })

  it('asks for no more than the grant leaves, and pulls again on the wake', async () => {
    const admission = new FakeAdmission()
    admission.grant.messages = 3
    const { nc, src, batches } = source(admission, (b) => { admission.grant.messages -= b.replies.length; batches.push(b) })
    src.start()
    assert.deepEqual(nc.pulls().map((p) => p.batch), [3])
    for (let seq = 1; seq <= 3; seq++) nc.deliver(seq)
    assert.equal(batches.length, 1, 'one full batch handed on, one message building')
    assert.equal(nc.pulls().length, 1, 'grant used up (2 held, 1 building): no pull')
    admission.grant.messages = 3 // the pipeline finished the batch
    admission.wake()
    assert.deepEqual(nc.pulls().map((p) => p.batch), [3, 2], 'grant 3 − 1 building')
    await stopNow(nc, src)
  })

  it('pulls nothing while the byte grant is used up; a pull may always carry one whole message', async () => {
    const admission = new FakeAdmission()
    admission.grant.bytes = 0
    const { nc, src } = source(admission)
    src.start()
    assert.equal(nc.pulls().length, 0)
    admission.grant.bytes = 10
    admission.wake()
    assert.equal(nc.pulls()[0]?.max_bytes, 1_048_576 + 65_536, 'the server\'s max_payload plus overhead')
    await stopNow(nc, src)
  })

  it('forgets what a request that ended still owed, and pulls again', async () => {
    const { nc, src } = source(() => true)
    src.start()
    nc.deliver(1)
    assert.equal(nc.pulls().length, 1, 'owed 3 ≥ one batch')
    nc.status(408, 'Request Timeout', { messages: 3, bytes: 1_000 })
    assert.equal(nc.pulls().length, 2)
    nc.status(100, 'Idle Heartbeat')
    assert.equal(nc.pulls().length, 2, 'a heartbeat changes nothing')
    await stopNow(nc, src)
  })

  it('reports a deleted consumer and pulls again', async () => {
    const { nc, src } = source(() => true)
    let gone = 0
    src.onConsumerGone(() => gone++)
    src.start()
    nc.status(409, 'Consumer Deleted')
    assert.equal(gone, 1)
    assert.equal(nc.pulls().length, 2)
    await stopNow(nc, src)
  })

  it('stop(): every caller waits for what is owed; the partial batch is handed on, then the inbox closed', async () => {
    const { nc, src, batches } = source(() => true)
    src.start()
    nc.deliver(1)
    const first = src.stop()
    const second = src.stop()
    assert.equal(first, second, 'one promise for every caller')
    assert.equal(src.state, 'stopping')
    let done = false
    const watched = first.then(() => { done = true })
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(done, false, '3 messages still owed')
    nc.deliver(2)
    nc.status(408, 'Request Timeout', { messages: 2, bytes: 100 })
    await second
    await watched
    assert.equal(done, true)
    assert.equal(src.state, 'stopped')
    assert.deepEqual(batches.map((b) => [...b.streamSeq]), [[1, 2]])
    assert.equal(nc.unsubscribed.length, 1)
    assert.equal(nc.pulls().length, 1, 'no pull after stop()')
  })

  it('logs an exception thrown while handing on, and keeps consuming', async () => {
    const lines: string[] = []
    const log = pino({ level: 'error' }, new Writable({ write (chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done() } }))
    let calls = 0
    const seen: number[] = []
    const { nc, src } = source(() => true, (b) => {
      if (++calls === 1) throw new Error('simulated failure taking a batch in')
      seen.push(...b.streamSeq)
    }, log)
    src.start()
    for (let seq = 1; seq <= 4; seq++) nc.deliver(seq)
    assert.deepEqual(seen, [3, 4])
    assert.ok(lines.some((l) => l.includes('simulated failure taking a batch in')))
    assert.equal(src.state, 'consuming')
    await stopNow(nc, src)
  })
})

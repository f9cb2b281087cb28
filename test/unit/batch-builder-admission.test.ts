/**
 * BatchBuilder's side of the admission protocol (ingest/admission.ts), on mocked timers: a full batch
 * goes at once; a partial one goes at its linger only if the pipeline would start it, else at the
 * pipeline's wake (offer()), or at most maxHoldMs later. count/bytes are what it holds (the source
 * subtracts them from the grant).
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import { BatchBuilder, type BatchOptions, type IngestBatch } from '../../src/ingest/batch-builder.js'
import { ackReply } from './ingest-fakes.js'

const OPTS: BatchOptions = { maxHoldMs: 1_000, stream: 'S', consumer: 'C', batchSize: 3, lingerMs: 20, maxPayloadBytes: 65_536, maxBatchBytes: 1_048_576 }
const data = new Uint8Array(10).fill(0x61)

function builder (ready: () => boolean): { b: BatchBuilder, batches: IngestBatch[] } {
  const batches: IngestBatch[] = []
  return { b: new BatchBuilder(OPTS, (x) => batches.push(x), ready, (err) => { throw err }), batches }
}

describe('BatchBuilder admission', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }))
  afterEach(() => mock.timers.reset())

  it('hands on a full batch at once, whatever ready() says', () => {
    const { b, batches } = builder(() => false)
    for (let s = 1; s <= 3; s++) b.add(data, ackReply(s), 'x')
    assert.equal(batches.length, 1)
    assert.equal(b.count, 0)
  })

  it('hands on a partial batch at its linger when the pipeline would start it', () => {
    const { b, batches } = builder(() => true)
    b.add(data, ackReply(1), 'x')
    assert.deepEqual([b.count, b.bytes], [1, 10])
    mock.timers.tick(19)
    assert.equal(batches.length, 0)
    mock.timers.tick(1)
    assert.equal(batches.length, 1)
  })

  it('holds a lingered partial batch while the pipeline is busy, until its wake', () => {
    let ready = false
    const { b, batches } = builder(() => ready)
    b.add(data, ackReply(1), 'x')
    mock.timers.tick(500)
    assert.equal(batches.length, 0, 'held: the pipeline would only queue it')
    b.add(data, ackReply(2), 'x')
    ready = true
    b.offer()
    assert.deepEqual(batches.map((x) => x.raw.count), [2])
  })

  it('offer() before the linger passed hands on nothing', () => {
    const { b, batches } = builder(() => true)
    b.add(data, ackReply(1), 'x')
    b.offer()
    assert.equal(batches.length, 0)
  })

  it('holds a partial batch at most maxHoldMs past its linger', () => {
    const { b, batches } = builder(() => false)
    b.add(data, ackReply(1), 'x')
    mock.timers.tick(OPTS.lingerMs + OPTS.maxHoldMs - 100)
    assert.equal(batches.length, 0)
    mock.timers.tick(200)
    assert.equal(batches.length, 1)
  })
})

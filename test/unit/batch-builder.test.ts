/**
 * BatchBuilder: batches are bounded in bytes by configuration whatever arrives (issue 10: one 800 KB
 * message used to size the next buffer at 800 KB × batch_size and throw RangeError from a timer),
 * oversized payloads keep only a prefix plus their length and SHA-256, and nothing it does on a
 * timer can throw out of it.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { BatchBuilder, OVERSIZED_PREFIX_BYTES, type BatchOptions, type IngestBatch } from '../../src/ingest/batch-builder.js'

const OPTS: BatchOptions = {
  maxHoldMs: 1_000,
  stream: 'S',
  consumer: 'C',
  batchSize: 5_000,
  lingerMs: 5,
  maxPayloadBytes: 65_536,
  maxBatchBytes: 1_048_576,
}

const reply = (seq: number, delivered = 1, pending = 0): string => `$JS.ACK.S.C.${delivered}.${seq}.${seq}.1700000000000000000.${pending}`

function builder (opts: Partial<BatchOptions> = {}, onError: (err: unknown) => void = (err) => { throw err }): { b: BatchBuilder, batches: IngestBatch[] } {
  const batches: IngestBatch[] = []
  const b = new BatchBuilder({ ...OPTS, ...opts }, (batch) => batches.push(batch), () => true, onError)
  return { b, batches }
}

async function until (what: string, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const payload = (n: number, fill = 0x61): Uint8Array => new Uint8Array(n).fill(fill)

function message (batch: IngestBatch, i: number): Uint8Array {
  return batch.raw.bytes.subarray(batch.raw.offsets[i], batch.raw.offsets[i + 1])
}

describe('BatchBuilder', () => {
  it('hands on one 800 KB message after its linger without throwing, keeping a prefix, its length and digest', async () => {
    const big = payload(800_000, 0x7b)
    const { b, batches } = builder()
    b.add(big, reply(1), 'CNC_DATA.x')
    await until('the lingered batch', () => batches.length === 1)
    const [batch] = batches as [IngestBatch]
    assert.equal(batch.raw.count, 1)
    assert.equal(message(batch, 0).length, OVERSIZED_PREFIX_BYTES, 'only the prefix is copied')
    assert.deepEqual(batch.raw.oversized, [{ index: 0, length: 800_000, sha256: createHash('sha256').update(big).digest('hex') }])
    // The next batch (a redelivery of the same message) is just as bounded.
    b.add(big, reply(1, 2), 'CNC_DATA.x')
    b.flush()
    assert.equal(batches.length, 2)
    assert.ok((batches[1]?.raw.bytes.buffer.byteLength ?? Infinity) <= OPTS.maxBatchBytes)
    assert.equal(batches[1]?.maxDelivered, 2)
  })

  it('sizes the next buffer within max_batch_bytes after any batch shape', () => {
    const { b, batches } = builder({ maxPayloadBytes: 1_048_576, maxBatchBytes: 2_097_152 })
    // One large acceptable payload, then small ones: the old code sized the next buffer at avg × batch_size.
    b.add(payload(1_000_000), reply(1), 's')
    b.flush()
    for (let i = 0; i < 100; i++) b.add(payload(300), reply(2 + i), 's')
    b.flush()
    for (const batch of batches) assert.ok(batch.raw.bytes.buffer.byteLength <= 2_097_152, `buffer ${batch.raw.bytes.buffer.byteLength} within the bound`)
  })

  it('hands a batch on when the next payload would not fit, so no batch exceeds max_batch_bytes', () => {
    const { b, batches } = builder({ maxBatchBytes: 100_000, maxPayloadBytes: 65_536 })
    const sizes = [30_000, 30_000, 30_000, 65_536, 1, 50_000, 50_000, 200_000, 10]
    sizes.forEach((n, i) => b.add(payload(n, 0x30 + i), reply(i + 1), 's'))
    b.flush()
    let seen = 0
    for (const batch of batches) {
      assert.ok(batch.raw.bytes.byteLength <= 100_000, `batch of ${batch.raw.bytes.byteLength} bytes`)
      assert.ok(batch.raw.bytes.buffer.byteLength <= 100_000, 'its buffer too')
      for (let i = 0; i < batch.raw.count; i++) {
        const n = sizes[seen] as number
        const m = message(batch, i)
        assert.equal(m.length, n > 65_536 ? OVERSIZED_PREFIX_BYTES : n, `message ${seen}`)
        assert.equal(m[0], 0x30 + seen, 'payloads in delivery order')
        assert.equal(batch.streamSeq[i], seen + 1)
        seen++
      }
    }
    assert.equal(seen, sizes.length, 'every message in exactly one batch')
    assert.deepEqual(batches.map((x) => x.raw.count), [3, 2, 2, 2])
    assert.deepEqual(batches[3]?.raw.oversized?.map((o) => o.index), [0])
  })

  it('never holds more than max(max_batch_bytes, max_payload_bytes) for one message', () => {
    const { b, batches } = builder({ maxBatchBytes: 65_536, maxPayloadBytes: 200_000 })
    b.add(payload(10), reply(1), 's')
    b.add(payload(200_000), reply(2), 's')
    b.flush()
    assert.deepEqual(batches.map((x) => x.raw.count), [1, 1])
    assert.equal(batches[1]?.raw.bytes.byteLength, 200_000)
  })

  it('hands on a full batch at batch_size and parses the reply subjects', () => {
    const { b, batches } = builder({ batchSize: 3 })
    for (let i = 1; i <= 7; i++) b.add(payload(10), reply(100 + i, i === 2 ? 4 : 1, 50 - i), 's.' + i)
    assert.deepEqual(batches.map((x) => x.raw.count), [3, 3])
    assert.deepEqual([...(batches[0]?.streamSeq ?? [])], [101, 102, 103])
    assert.equal(batches[0]?.redelivered, 1)
    assert.equal(batches[0]?.maxDelivered, 4)
    assert.equal(batches[1]?.pendingAfter, 44)
    assert.deepEqual(batches[1]?.subjects, ['s.4', 's.5', 's.6'])
    b.flush()
    assert.equal(batches[2]?.raw.count, 1)
  })

  it('reads the longer reply layout of newer servers (domain and account hash)', () => {
    const { b, batches } = builder()
    b.add(payload(10), '$JS.ACK.hub.ACCHASH.S.C.3.55.54.1700000000000000000.9.rnd', 's')
    b.flush()
    assert.equal(batches[0]?.streamSeq[0], 55)
    assert.equal(batches[0]?.maxDelivered, 3)
    assert.equal(batches[0]?.pendingAfter, 9)
  })

  it('does not loop on a truncated reply subject', () => {
    const { b, batches } = builder()
    b.add(payload(10), '$JS.ACK.S.C.12', 's')
    b.add(payload(10), '$JS.ACK.S.C.1.77', 's')
    b.flush()
    assert.equal(batches[0]?.raw.count, 2)
    assert.equal(batches[0]?.streamSeq[1], 77)
  })

  it('reports an exception in a linger timer instead of letting it escape', async () => {
    const errors: unknown[] = []
    const b = new BatchBuilder(OPTS, () => { throw new Error('downstream refused') }, () => true, (err) => errors.push(err))
    b.add(payload(10), reply(1), 's')
    await until('the timer to report', () => errors.length === 1)
    assert.match(String(errors[0]), /downstream refused/)
  })
})

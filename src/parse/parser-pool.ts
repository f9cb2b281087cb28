/**
 * Main-thread side of the parser workers. One task per batch; the payload buffers are transferred
 * to the worker and back, so a batch's bytes are never copied between threads.
 * Lifecycle: start (constructor) → parse()* → close() (waits for running tasks) | destroy().
 */
import { Piscina } from 'piscina'
import type { ParsedBatch, RawBatch } from '../contracts.js'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { decodeBatchInSlices } from './decode-batch.js'

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
const WORKER_FILE = new URL(`./parse-worker${ext}`, import.meta.url).href

/**
 * Heap bound of each worker. A worker that runs out of heap without an explicit bound aborts the
 * whole process (V8's fatal OOM); with one, only the worker ends and its task (the batch) fails,
 * which the pipeline retries. Decoding holds one message's parse at a time: measured here, 8 MB of
 * `[[],[],…]` (the largest nats.max_payload_bytes) takes 115 MB of heap; payload and COPY buffers
 * are ArrayBuffers, outside this bound.
 */
export const WORKER_HEAP_MB = 512

/** Payload bytes decoded per event-loop turn on the ingest thread (≈ 1–3 ms of work). */
const SLICE_BYTES = 256 * 1024

export class ParserPool {
  /** Undefined with 0 threads: batches are decoded on the calling (ingest) thread. */
  readonly #pool: Piscina<RawBatch, ParsedBatch> | undefined
  /** In-thread decodes run one after another (they share the encoder). */
  #inThread: Promise<unknown> = Promise.resolve()
  #closed = false

  /**
   * `maxQueued`: tasks that may wait for a thread; the pipeline never admits more (max_in_flight).
   * `onError`: a worker failing outside a task (it could not load, it died between tasks). Piscina emits
   * that as the pool's 'error' event, which without a listener is an uncaught exception in the main thread;
   * the pool replaces the worker, and a batch it held fails its task (the pipeline retries it).
   */
  constructor (threads: number, maxQueued: number, heapMb = WORKER_HEAP_MB, onError: (err: unknown) => void = () => {}) {
    if (threads === 0) {
      this.#pool = undefined
      return
    }
    this.#pool = new Piscina({
      filename: WORKER_FILE,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
      // The pipeline bounds batches in flight; piscina's 'auto' (threads²) would refuse some of them.
      maxQueue: maxQueued,
    })
    this.#pool.on('error', onError)
  }

  parse (raw: RawBatch): Promise<ParsedBatch> {
    if (this.#pool === undefined) {
      // In-thread, in slices, one batch at a time; a failure rejects, as a worker's would (the pipeline retries the batch).
      const run = this.#inThread.then(() => decodeBatchInSlices(raw, SLICE_BYTES, nextTurn))
      this.#inThread = run.catch(() => {})
      return run
    }
    return this.#pool.run(raw, { transferList: [raw.bytes.buffer as ArrayBuffer, raw.offsets.buffer as ArrayBuffer] })
  }

  get threads (): number { return this.#pool?.threads.length ?? 0 }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#inThread
    await this.#pool?.close()
  }

  async destroy (): Promise<void> {
    this.#closed = true
    await this.#pool?.destroy()
  }
}

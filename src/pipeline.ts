/**
 * The flow in one screen:
 *
 *   source ─IngestBatch─▶ queue ─▶ parse (worker) ─▶ write (BEGIN·COPY·COMMIT) ─▶ settle (ack | term | nak)
 *                           └── at most ingest.max_in_flight batches between queue and settle ──┘
 *
 * Parsing batch N+1 overlaps writing batch N. A batch is acked only after its COMMIT returned.
 * When the database fails transiently the batch is nak'd with a delay and the pipeline stops taking
 * batches until a probe query succeeds; batches it holds meanwhile get `working()` every ack_wait/3 so
 * JetStream does not redeliver copies of them.
 *
 * States: running ⇄ db-down → draining → closed.
 */
import type { Logger } from 'pino'
import type { Settler } from './ack/settle.js'
import type { ParsedBatch, Rejection } from './contracts.js'
import type { IngestBatch } from './ingest/batch-builder.js'
import type { Metrics } from './metrics.js'
import type { ParserPool } from './parse/parser-pool.js'
import { withoutMessages, type CopyWriter } from './write/copy-writer.js'
import type { DeadLetter } from './write/dead-letters.js'

export interface PipelineOptions {
  readonly maxInFlight: number
  readonly ackWaitMs: number
  readonly nakDelayMs: number
  /** The consumer's max_deliver: a batch whose messages reached max_deliver - 1 is retried, never nak'd. */
  readonly maxDeliver: number
  /** Ledger identity of the stream: `<name>@<created>`. */
  readonly streamKey: () => string
  /**
   * Called after a batch committed and was acked, with the rows it added (the live feed).
   * Row r's payload is parsed.bytes[offsets[rowMessage[r]] .. offsets[rowMessage[r] + 1]).
   */
  readonly onCommitted?: (parsed: ParsedBatch) => void
  /** Called when a batch slot frees up (the source may hand on a partial batch then). */
  readonly onCapacity?: () => void
  /** Probe used while the database is down; resolves when it answers again. */
  readonly probeDb: () => Promise<void>
}

export type PipelineState = 'running' | 'db-down' | 'draining' | 'closed'

interface Held {
  readonly batch: IngestBatch
  lastSignal: number
  /** Kept when a batch is held for retry: its raw buffers went to the worker and are not coming back. */
  parsed?: ParsedBatch
}

export class Pipeline {
  readonly #parser: ParserPool
  readonly #settler: Settler
  readonly #writer: CopyWriter
  readonly #metrics: Metrics
  readonly #log: Logger
  readonly #opts: PipelineOptions
  readonly #queue: Held[] = []
  readonly #held = new Set<Held>()
  #inFlight = 0
  #state: PipelineState = 'running'
  #keepAliveTimer: NodeJS.Timeout
  #idle: (() => void) | undefined
  #lastCommitAt = 0
  #draining = false

  constructor (parser: ParserPool, writer: CopyWriter, settler: Settler, metrics: Metrics, log: Logger, opts: PipelineOptions) {
    this.#parser = parser
    this.#settler = settler
    this.#writer = writer
    this.#metrics = metrics
    this.#log = log
    this.#opts = opts
    this.#keepAliveTimer = setInterval(() => this.#keepHeldAlive(), Math.max(250, Math.floor(opts.ackWaitMs / 3)))
    this.#keepAliveTimer.unref()
  }

  get state (): PipelineState { return this.#state }
  get inFlight (): number { return this.#inFlight }
  get queued (): number { return this.#queue.length }
  get lastCommitAt (): number { return this.#lastCommitAt }

  /** A batch handed in now would start at once. */
  readonly ready = (): boolean =>
    this.#inFlight < this.#opts.maxInFlight && this.#queue.length === 0 && (this.#state === 'running' || this.#state === 'draining')

  /** The source's callback: takes a batch in; it will be settled exactly once. */
  readonly accept = (batch: IngestBatch): void => {
    const held: Held = { batch, lastSignal: batch.receivedAt }
    this.#held.add(held)
    this.#queue.push(held)
    this.#metrics.received.inc(batch.replies.length)
    if (batch.redelivered > 0) this.#metrics.redelivered.inc(batch.redelivered)
    this.#metrics.consumerPending.set(batch.pendingAfter)
    this.#pump()
  }

  #pump (): void {
    while (this.#inFlight < this.#opts.maxInFlight && this.#queue.length > 0 && this.#state !== 'db-down' && this.#state !== 'closed') {
      const held = this.#queue.shift() as Held
      this.#inFlight++
      this.#metrics.batchesInFlight.set(this.#inFlight)
      let kept = false
      this.#process(held).then((k) => { kept = k }, (err: unknown) => this.#log.error({ err }, 'batch processing failed unexpectedly'))
        .finally(() => {
          if (!kept) this.#held.delete(held)
          this.#inFlight--
          this.#metrics.batchesInFlight.set(this.#inFlight)
          this.#pump()
          this.#checkIdle()
          if (this.ready()) this.#opts.onCapacity?.()
        })
    }
  }

  /** Settles the batch, or keeps it queued for another try; returns true when kept. */
  async #process (held: Held): Promise<boolean> {
    const { batch } = held
    let parsed = held.parsed
    try {
      parsed ??= await this.#parser.parse(batch.raw)
    } catch (err) {
      // A worker failure is ours, not the message's: retry later rather than dead-letter.
      this.#log.error({ err, messages: batch.replies.length }, 'parser worker failed; batch nak\'d')
      this.#settler.nak(batch.replies, this.#opts.nakDelayMs)
      this.#metrics.nakd.inc(batch.replies.length)
      return false
    }
    const deadLetterFor = (r: Rejection): DeadLetter => ({
      subject: batch.subjects[r.index] ?? '',
      streamSeq: batch.streamSeq[r.index] ?? null,
      reason: r.code,
      detail: r.detail,
      payload: (parsed as ParsedBatch).bytes.subarray(parsed.offsets[r.index], parsed.offsets[r.index + 1]),
    })
    const result = await this.#writer.write(parsed, { streamKey: this.#opts.streamKey(), streamSeq: batch.streamSeq, deadLetterFor })
    if (result.type === 'failed') {
      this.#metrics.batchFailures.inc()
      const err = { err: result.error.message, code: (result.error as { code?: string }).code, messages: batch.replies.length }
      this.#databaseDown()
      if (batch.maxDelivered >= this.#opts.maxDeliver - 1) {
        // One more nak and JetStream would stop delivering these messages (max_deliver): keep the
        // batch, extend its ack timer, and write it again once the database answers.
        held.parsed = parsed
        this.#queue.unshift(held)
        this.#log.warn(err, 'batch rolled back; held for retry (its messages are at max_deliver)')
        return true
      }
      this.#settler.nak(batch.replies, this.#opts.nakDelayMs)
      this.#metrics.nakd.inc(batch.replies.length)
      this.#log.warn(err, 'batch rolled back; nak\'d for redelivery')
      return false
    }
    const counts = this.#settler.committed(batch.replies, result.rejections)
    const now = Date.now()
    this.#lastCommitAt = now
    this.#metrics.committed.inc(result.rows)
    if (result.alreadyCommitted.length > 0) {
      this.#metrics.duplicates.inc(result.alreadyCommitted.length)
      this.#log.info({ messages: result.alreadyCommitted.length }, 'redelivered messages were already committed: acked without writing again')
    }
    for (const r of result.rejections) this.#metrics.rejected.inc({ reason: r.code })
    this.#metrics.batchSize.observe(batch.replies.length)
    this.#metrics.commitDuration.observe(result.durationMs / 1000)
    this.#metrics.lastCommit.set(now / 1000)
    const times = parsed.rowTimeMs
    for (let r = 0; r < times.length; r++) this.#metrics.publishToCommit.observe((now - (times[r] as number)) / 1000)
    if (this.#opts.onCommitted !== undefined && result.rows > 0) {
      try {
        // Rows of messages committed earlier (ledger) or refused by PostgreSQL were not added now.
        const notAdded = [...result.alreadyCommitted, ...result.rejections.map((r) => r.index)]
        this.#opts.onCommitted(notAdded.length === 0 ? parsed : withoutIndices(parsed, notAdded))
      } catch (err) {
        this.#log.warn({ err }, 'committed-batch listener failed')
      }
    }
    this.#log.debug({ messages: batch.replies.length, rows: result.rows, rejected: counts.termed, acked: counts.acked, ms: Math.round(result.durationMs) }, 'batch committed')
    return false
  }

  #databaseDown (): void {
    if (this.#state !== 'running') return
    this.#state = 'db-down'
    this.#log.warn('database unavailable: pausing until it answers')
    const probe = async (): Promise<void> => {
      for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
        await new Promise((resolve) => setTimeout(resolve, delay))
        if (this.#state === 'closed') return
        try {
          await this.#opts.probeDb()
          break
        } catch { /* still down */ }
      }
      if (this.#state === 'db-down') this.#state = this.#draining ? 'draining' : 'running'
      this.#log.info('database answers again: resuming')
      this.#pump()
      this.#checkIdle()
    }
    probe().catch((err: unknown) => this.#log.error({ err }, 'database probe loop failed'))
  }

  #keepHeldAlive (): void {
    const now = Date.now()
    const due = this.#opts.ackWaitMs / 3
    for (const h of this.#held) {
      if (now - h.lastSignal >= due) {
        this.#settler.keepAlive(h.batch.replies)
        h.lastSignal = now
      }
    }
  }

  #checkIdle (): void {
    if (this.#idle !== undefined && this.#inFlight === 0 && (this.#queue.length === 0 || this.#state === 'db-down')) this.#idle()
  }

  /**
   * Drain: settle everything taken in (the source must be stopped first). Resolves true when all
   * batches were committed or nak'd by the deadline; otherwise naks what is left and resolves false.
   */
  async close (deadlineMs: number): Promise<boolean> {
    if (this.#state === 'closed') return true
    this.#draining = true
    if (this.#state === 'running') this.#state = 'draining'
    const drained = new Promise<void>((resolve) => { this.#idle = resolve })
    this.#checkIdle()
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), deadlineMs) })
    let ok = await Promise.race([drained.then(() => true), timedOut])
    clearTimeout(timer)
    // Batches still queued (database down) go back to JetStream now rather than at ack_wait.
    for (const h of this.#queue.splice(0)) {
      this.#settler.nak(h.batch.replies, 1)
      this.#held.delete(h)
      ok = false
    }
    this.#state = 'closed'
    clearInterval(this.#keepAliveTimer)
    return ok && this.#inFlight === 0
  }
}

/** The batch without the rows of the given messages. */
function withoutIndices (parsed: ParsedBatch, indices: readonly number[]): ParsedBatch {
  const drop = new Uint8Array(parsed.offsets.length)
  for (const i of indices) drop[i] = 1
  return withoutMessages(parsed, drop)
}

/**
 * The flow in one screen:
 *
 *   source ─IngestBatch─▶ queue ─▶ parse (worker) ─▶ write (BEGIN·COPY·COMMIT) ─▶ settle (ack | term)
 *                           └── at most ingest.max_in_flight batches between queue and settle ──┘
 *
 * Parsing batch N+1 overlaps writing batch N. A batch is acked only after its COMMIT returned.
 *
 * A failed write is never nak'd into JetStream's backoff (nats-server 2.9 redelivers a nak'd message
 * after backoff[n] − ack_wait + delay: minutes with the defaults). The batch is held and retried in
 * place, its messages kept alive with +WPI every ack_wait/3, after a jittered backoff capped at
 * ingest.retry_max_backoff_ms; while it is retried no other batch starts, so the retry itself is the
 * probe and the first success lets everything go. A failure is judged by write/retry.ts: database
 * away → retry until it takes writes; the same failure repeating while a probe write succeeds →
 * bisect (write/isolate.ts) and dead-letter the messages that fail alone.
 * An unexpected exception fails only its batch: its unsettled messages are nak'd.
 *
 * States: running ⇄ db-down (a held batch is being retried) → draining → closed.
 */
import type { Logger } from 'pino'
import type { Settler } from './ack/settle.js'
import type { ParsedBatch, Rejection } from './contracts.js'
import type { IngestBatch } from './ingest/batch-builder.js'
import type { Metrics } from './metrics.js'
import type { ParserPool } from './parse/parser-pool.js'
import { withoutMessages, type BatchMeta, type CopyWriter } from './write/copy-writer.js'
import type { DeadLetter } from './write/dead-letters.js'
import { writeIsolating } from './write/isolate.js'
import { WritePolicy, type Attempts } from './write/retry.js'

export interface PipelineOptions {
  readonly maxInFlight: number
  readonly ackWaitMs: number
  /** Delay of the nak sent when a parser worker fails, and at shutdown. */
  readonly nakDelayMs: number
  /** Ledger identity of the stream, `<name>@<created>`, read per batch (it follows a recreated stream). */
  readonly streamKey: () => string
  /**
   * Called after a batch committed and was acked, with the rows it added (the live feed).
   * Row r's JSON text is parsed.bytes[rowSpan[2r] .. rowSpan[2r + 1]).
   */
  readonly onCommitted?: (parsed: ParsedBatch) => void
  /** Called when a batch slot frees up (the source may hand on a partial batch then). */
  readonly onCapacity?: () => void
  /** A write that is rolled back; resolves when the database takes writes (database.probeWrite). */
  readonly probeWrite: () => Promise<void>
  /** Cap of the jittered retry backoff (first retry after 250 ms, doubling). */
  readonly retryMaxBackoffMs: number
  /** Identical failures (probe write succeeding) before a batch is bisected. */
  readonly maxWriteAttempts: number
}

export type PipelineState = 'running' | 'db-down' | 'draining' | 'closed'

interface Held extends Attempts {
  readonly batch: IngestBatch
  lastSignal: number
  /** Kept when a batch is held for retry: its raw buffers went to the worker and are not coming back. */
  parsed?: ParsedBatch
  /** 1 = message already settled (a bisection committed part of the batch). */
  settled?: Uint8Array
}

type Outcome = 'done' | 'retry'

export class Pipeline {
  readonly #parser: ParserPool
  readonly #settler: Settler
  readonly #writer: CopyWriter
  readonly #metrics: Metrics
  readonly #log: Logger
  readonly #opts: PipelineOptions
  readonly #policy: WritePolicy
  readonly #queue: Held[] = []
  readonly #held = new Set<Held>()
  #inFlight = 0
  #state: PipelineState = 'running'
  #keepAliveTimer: NodeJS.Timeout
  #idle: (() => void) | undefined
  readonly #startedAt = Date.now()
  #lastCommitAt = 0
  #lastWriteOkAt = 0
  #lastReceivedAt = 0
  #failures = 0
  #refusal: string | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #retryDue = false
  #draining = false

  constructor (parser: ParserPool, writer: CopyWriter, settler: Settler, metrics: Metrics, log: Logger, opts: PipelineOptions) {
    this.#parser = parser
    this.#settler = settler
    this.#writer = writer
    this.#metrics = metrics
    this.#log = log
    this.#opts = opts
    this.#policy = new WritePolicy({ probeWrite: opts.probeWrite, maxWriteAttempts: opts.maxWriteAttempts, maxBackoffMs: opts.retryMaxBackoffMs })
    // Checked every ack_wait/6 and sent once ack_wait/3 has passed: a held message is extended at most
    // ack_wait/2 after its last signal, leaving half of ack_wait for event-loop lag under load.
    this.#keepAliveTimer = setInterval(() => this.#keepHeldAlive(), Math.max(250, Math.floor(opts.ackWaitMs / 6)))
    this.#keepAliveTimer.unref()
  }

  get state (): PipelineState { return this.#state }
  get inFlight (): number { return this.#inFlight }
  get queued (): number { return this.#queue.length }
  get lastCommitAt (): number { return this.#lastCommitAt }
  get lastReceivedAt (): number { return this.#lastReceivedAt }
  /** Last COMMIT or successful probe write (ms since 1970; the pipeline's start when none yet). */
  get lastWriteOkAt (): number { return Math.max(this.#lastWriteOkAt, this.#policy.lastProbeOkAt, this.#startedAt) }
  /** The failure a held batch is being retried for ('SQLSTATE 53100'), while in db-down. */
  get refusal (): string | undefined { return this.#state === 'db-down' ? this.#refusal : undefined }

  /** How long messages taken in have waited without any batch committing (0 when none wait). */
  stalledForMs (now = Date.now()): number {
    let oldest = Infinity
    for (const h of this.#held) oldest = Math.min(oldest, h.batch.receivedAt)
    return oldest === Infinity ? 0 : Math.max(0, now - Math.max(oldest, this.#lastCommitAt))
  }

  /** A batch handed in now would start at once. */
  readonly ready = (): boolean =>
    this.#inFlight < this.#opts.maxInFlight && this.#queue.length === 0 && (this.#state === 'running' || this.#state === 'draining')

  /** The source's callback: takes a batch in; it will be settled exactly once. */
  readonly accept = (batch: IngestBatch): void => {
    const held: Held = { batch, lastSignal: batch.receivedAt, sameFailures: 0 }
    this.#held.add(held)
    this.#queue.push(held)
    this.#lastReceivedAt = Date.now()
    this.#metrics.received.inc(batch.replies.length)
    if (batch.redelivered > 0) this.#metrics.redelivered.inc(batch.redelivered)
    this.#metrics.consumerPending.set(batch.pendingAfter)
    this.#pump()
  }

  #pump (): void {
    while (this.#inFlight < this.#opts.maxInFlight && this.#queue.length > 0 && this.#state !== 'closed') {
      if (this.#state === 'db-down') {
        // One held batch at a time asks the database again; the others wait for its answer.
        if (this.#inFlight > 0 || !this.#retryDue) return
        this.#retryDue = false
      }
      this.#start(this.#queue.shift() as Held)
    }
  }

  #start (held: Held): void {
    this.#inFlight++
    this.#metrics.batchesInFlight.set(this.#inFlight)
    let outcome: Outcome = 'done'
    this.#process(held).then((o) => { outcome = o }, (err: unknown) => { outcome = this.#guard(held, err) })
      .finally(() => {
        this.#inFlight--
        this.#metrics.batchesInFlight.set(this.#inFlight)
        if (outcome === 'retry' && this.#state !== 'closed') {
          this.#queue.unshift(held)
          this.#scheduleRetry()
        } else {
          this.#held.delete(held)
        }
        this.#pump()
        this.#checkIdle()
        if (this.ready()) this.#opts.onCapacity?.()
      })
      .catch((err: unknown) => this.#log.error({ err }, 'pipeline bookkeeping failed'))
  }

  /** An exception nobody expected fails its batch, never the process: its unsettled messages go back. */
  #guard (held: Held, err: unknown): Outcome {
    this.#log.error({ err, messages: held.batch.replies.length }, 'batch processing failed unexpectedly; unsettled messages nak\'d')
    try {
      this.#settler.nak(held.batch.replies, this.#opts.nakDelayMs, held.settled)
      this.#metrics.nakd.inc(held.batch.replies.length)
    } catch (e) {
      this.#log.error({ err: e }, 'could not nak; JetStream redelivers after ack_wait')
    }
    return 'done'
  }

  /** Settles the batch, or reports it for another try. */
  async #process (held: Held): Promise<Outcome> {
    const { batch } = held
    let parsed = held.parsed
    try {
      parsed ??= await this.#parser.parse(batch.raw)
    } catch (err) {
      // A worker failure is ours, not the message's: retry later rather than dead-letter.
      this.#log.error({ err, messages: batch.replies.length }, 'parser worker failed; batch nak\'d')
      this.#settler.nak(batch.replies, this.#opts.nakDelayMs)
      this.#metrics.nakd.inc(batch.replies.length)
      return 'done'
    }
    held.parsed = parsed
    const p = parsed
    const deadLetterFor = (r: Rejection): DeadLetter => ({
      subject: batch.subjects[r.index] ?? '',
      streamSeq: batch.streamSeq[r.index] ?? null,
      reason: r.code,
      detail: r.detail,
      payload: p.bytes.subarray(p.offsets[r.index], p.offsets[r.index + 1]),
    })
    const settled = held.settled
    const include = settled?.map((v) => 1 - v)
    const ackFloor = this.#settler.ackFloor
    const meta: BatchMeta = { streamKey: this.#opts.streamKey(), streamSeq: batch.streamSeq, deadLetterFor, ...(include === undefined ? {} : { include }), ...(ackFloor === undefined ? {} : { ackFloor }) }
    const part = settled === undefined ? parsed : withoutMessages(parsed, settled)
    if (held.isolate !== undefined) {
      this.#metrics.bisected.inc()
      const r = await writeIsolating(this.#writer, part, meta, held.isolate)
      this.#log.warn({ signature: held.isolate, messages: batch.replies.length, transactions: r.transactions, deadLettered: r.rejections.length, failed: r.error?.message }, 'batch bisected')
      if (r.settled.some((v) => v === 1)) this.#settle(held, parsed, r, r.settled)
      return r.error === undefined ? 'done' : await this.#failed(held, r.error)
    }
    const result = await this.#writer.write(part, meta)
    if (result.type === 'failed') return await this.#failed(held, result.error)
    this.#settle(held, parsed, result, include)
    return 'done'
  }

  /** Decides what a failed write means (see the header); 'retry' keeps the batch held. */
  async #failed (held: Held, error: Error): Promise<Outcome> {
    this.#metrics.batchFailures.inc()
    const { away, signature } = await this.#policy.judge(held, error)
    this.#refusal = away ? signature : `${signature} (these rows)`
    const log = { err: error.message, signature, away, attempt: held.sameFailures, messages: held.batch.replies.length }
    if (this.#state === 'closed' || (this.#draining && away)) {
      // Shutting down: hand the batch back to JetStream now rather than wait for the database.
      this.#settler.nak(held.batch.replies, this.#opts.nakDelayMs, held.settled)
      this.#metrics.nakd.inc(held.batch.replies.length)
      this.#log.warn(log, 'batch rolled back while shutting down; nak\'d')
      return 'done'
    }
    this.#log.warn(log, held.isolate === undefined ? 'batch rolled back; held and retried' : 'batch keeps failing the same way while the database takes writes: bisecting')
    return 'retry'
  }

  #scheduleRetry (): void {
    if (this.#state === 'running' || this.#state === 'draining') {
      this.#state = 'db-down'
      this.#log.warn({ refusal: this.#refusal }, 'writes failing: holding batches and retrying')
    }
    this.#failures++
    this.#metrics.writeRetries.inc()
    if (this.#retryTimer !== undefined) return
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      this.#retryDue = true
      this.#pump()
    }, this.#policy.backoffMs(this.#failures))
  }

  #settle (held: Held, parsed: ParsedBatch, r: { rows: number, rejections: readonly Rejection[], alreadyCommitted: readonly number[], durationMs: number, through?: number }, only: Uint8Array | undefined): void {
    const { batch } = held
    const counts = this.#settler.committed(batch.replies, r.rejections, only, batch.streamSeq, r.through)
    if (only === undefined) held.settled = new Uint8Array(batch.replies.length).fill(1)
    else {
      const s = held.settled ?? new Uint8Array(batch.replies.length)
      for (let i = 0; i < only.length; i++) if (only[i] === 1) s[i] = 1
      held.settled = s
    }
    const now = Date.now()
    this.#lastCommitAt = now
    this.#lastWriteOkAt = now
    this.#failures = 0
    if (this.#state === 'db-down') {
      this.#state = this.#draining ? 'draining' : 'running'
      this.#log.info('database takes writes again: resuming')
    }
    this.#metrics.committed.inc(r.rows)
    if (r.alreadyCommitted.length > 0) {
      this.#metrics.duplicates.inc(r.alreadyCommitted.length)
      this.#log.info({ messages: r.alreadyCommitted.length }, 'redelivered messages were already committed: acked without writing again')
    }
    for (const j of r.rejections) this.#metrics.rejected.inc({ reason: j.code })
    this.#metrics.batchSize.observe(batch.replies.length)
    this.#metrics.commitDuration.observe(r.durationMs / 1000)
    this.#metrics.lastCommit.set(now / 1000)
    // Rows not added now: messages committed earlier (ledger), refused by PostgreSQL, or outside `only`.
    const drop = only === undefined ? new Uint8Array(batch.replies.length) : only.map((v) => 1 - v)
    for (const i of r.alreadyCommitted) drop[i] = 1
    // A refused array element never became a row: its message's other rows stay.
    for (const j of r.rejections) if (j.element === undefined) drop[j.index] = 1
    const added = drop.some((v) => v === 1) ? withoutMessages(parsed, drop) : parsed
    const times = added.rowTimeMs
    for (let k = 0; k < times.length; k++) this.#metrics.publishToCommit.observe((now - (times[k] as number)) / 1000)
    if (this.#opts.onCommitted !== undefined && r.rows > 0) {
      try {
        this.#opts.onCommitted(added)
      } catch (err) {
        this.#log.warn({ err }, 'committed-batch listener failed')
      }
    }
    this.#log.debug({ messages: batch.replies.length, rows: r.rows, rejected: counts.termed, acked: counts.acked, ms: Math.round(r.durationMs) }, 'batch committed')
  }

  #keepHeldAlive (): void {
    const now = Date.now()
    const due = this.#opts.ackWaitMs / 3
    for (const h of this.#held) {
      if (now - h.lastSignal >= due) {
        this.#settler.keepAlive(h.batch.replies, h.settled)
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
   * A batch failing while draining is nak'd at once (no retry loop outlives the drain).
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
    clearTimeout(this.#retryTimer)
    // Batches still queued (held for retry) go back to JetStream now rather than at ack_wait.
    for (const h of this.#queue.splice(0)) {
      this.#settler.nak(h.batch.replies, 1, h.settled)
      this.#held.delete(h)
      ok = false
    }
    this.#state = 'closed'
    clearInterval(this.#keepAliveTimer)
    return ok && this.#inFlight === 0
  }
}

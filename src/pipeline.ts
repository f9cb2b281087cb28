/**
 * The flow in one screen:
 *
 *   source ─IngestBatch─▶ queue ─▶ parse (worker) ─▶ write (BEGIN·COPY·COMMIT) ─▶ settle (ack | term)
 *     ▲                     └── at most ingest.max_in_flight batches between queue and settle ──┘
 *     └── grant: what it takes beyond what it holds; wake when a batch ends (ingest/admission.ts)
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
 * States and transitions: pipeline-state.ts. close() drains once; every caller gets that promise.
 */
import type { Logger } from 'pino'
import type { Settler } from './ack/settle.js'
import type { Committed, ParsedBatch } from './contracts.js'
import type { Admission, Grant } from './ingest/admission.js'
import type { IngestBatch } from './ingest/batch-builder.js'
import type { Metrics } from './metrics.js'
import type { ParserPool } from './parse/parser-pool.js'
import { observeCommit, writeInput } from './pipeline-batch.js'
import { HeldBatches, type Held } from './pipeline-held.js'
import { PipelineStates, type PipelineState } from './pipeline-state.js'
import type { CopyWriter } from './write/copy-writer.js'
import { writeIsolating } from './write/isolate.js'
import { WritePolicy } from './write/retry.js'

export type { PipelineState }

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
  readonly onCommitted?: (parsed: ParsedBatch, commitNo: number) => void
  /** A write that is rolled back; resolves when the database takes writes (database.probeWrite). */
  readonly probeWrite: () => Promise<void>
  /** Cap of the jittered retry backoff (first retry after 250 ms, doubling). */
  readonly retryMaxBackoffMs: number
  /** Identical failures (probe write succeeding) before a batch is bisected. */
  readonly maxWriteAttempts: number
  /** What the pipeline holds at most (admission.ts pipelineBound); absent: no bound. */
  readonly bound?: Grant
  /** An impossible state transition throws (tests) instead of being logged as an error. */
  readonly strictStates?: boolean
}

type Outcome = 'done' | 'retry'

export class Pipeline implements Admission {
  readonly #parser: ParserPool
  readonly #settler: Settler
  readonly #writer: CopyWriter
  readonly #metrics: Metrics
  readonly #log: Logger
  readonly #opts: PipelineOptions
  readonly #policy: WritePolicy
  readonly #states: PipelineStates
  readonly #held: HeldBatches
  readonly #queue: Held[] = []
  #inFlight = 0
  #idle: (() => void) | undefined
  #closing: Promise<boolean> | undefined
  #wake: (() => void) | undefined
  readonly #startedAt = Date.now()
  #lastCommitAt = 0
  #lastWriteOkAt = 0
  #lastReceivedAt = 0
  #pendingAfter = 0
  #failures = 0
  #refusal: string | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #retryDue = false

  constructor (parser: ParserPool, writer: CopyWriter, settler: Settler, metrics: Metrics, log: Logger, opts: PipelineOptions) {
    this.#parser = parser
    this.#settler = settler
    this.#writer = writer
    this.#metrics = metrics
    this.#log = log
    this.#opts = opts
    this.#policy = new WritePolicy({ probeWrite: opts.probeWrite, maxWriteAttempts: opts.maxWriteAttempts, maxBackoffMs: opts.retryMaxBackoffMs })
    this.#states = new PipelineStates(log, opts.strictStates)
    this.#held = new HeldBatches(opts.bound, opts.ackWaitMs, (h) => settler.keepAlive(h.batch.replies, h.settled))
  }

  get state (): PipelineState { return this.#states.current }
  get inFlight (): number { return this.#inFlight }
  get queued (): number { return this.#queue.length }
  get lastCommitAt (): number { return this.#lastCommitAt }
  get lastReceivedAt (): number { return this.#lastReceivedAt }
  /** Messages still in the stream after the last batch taken in (JetStream's num_pending then). */
  get pendingAfter (): number { return this.#pendingAfter }
  /** Last COMMIT or successful probe write (ms since 1970; the pipeline's start when none yet). */
  get lastWriteOkAt (): number { return Math.max(this.#lastWriteOkAt, this.#policy.lastProbeOkAt, this.#startedAt) }
  /** The failure a held batch is being retried for ('SQLSTATE 53100'), while the database is down. */
  get refusal (): string | undefined { return this.#states.dbDown ? this.#refusal : undefined }
  /** Admission: messages and bytes the source may still hand in. */
  get grant (): Grant { return this.#held.grant }

  /** Admission: `wake` runs whenever a batch ends (the grant grew, ready() may have turned true). */
  onGrant (wake: () => void): void { this.#wake = wake }

  /** How long messages taken in have waited without any batch committing (0 when none wait). */
  stalledForMs (now = Date.now()): number { return this.#held.stalledForMs(now, this.#lastCommitAt) }

  /** Admission: a batch handed in now would start at once. */
  readonly ready = (): boolean => this.#inFlight < this.#opts.maxInFlight && this.#queue.length === 0 && this.#states.flowing

  /** The source's callback (through the identity gate): takes a batch in; it will be settled exactly once. */
  readonly accept = (batch: IngestBatch): void => {
    if (this.#states.current === 'closed') {
      this.#log.error({ messages: batch.replies.length }, 'batch handed in after the pipeline closed: nak\'d')
      this.#settler.nak(batch.replies, this.#opts.nakDelayMs)
      return
    }
    this.#queue.push(this.#held.add(batch))
    this.#lastReceivedAt = Date.now()
    this.#metrics.received.inc(batch.replies.length)
    if (batch.redelivered > 0) this.#metrics.redelivered.inc(batch.redelivered)
    this.#pendingAfter = batch.pendingAfter
    this.#metrics.consumerPending.set(batch.pendingAfter)
    this.#pump()
  }

  #pump (): void {
    while (this.#inFlight < this.#opts.maxInFlight && this.#queue.length > 0 && this.#states.current !== 'closed') {
      if (!this.#states.flowing) {
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
        if (outcome === 'retry' && this.#states.current !== 'closed') {
          this.#queue.unshift(held)
          this.#scheduleRetry()
        } else {
          // Closed between the verdict and here: nothing retries it any more.
          if (outcome === 'retry') this.#settler.nak(held.batch.replies, this.#opts.nakDelayMs, held.settled)
          this.#held.delete(held)
        }
        this.#pump()
        this.#checkIdle()
        this.#wake?.()
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
    const { part, meta, include } = writeInput(held, parsed, this.#opts.streamKey(), this.#settler.ackFloor)
    if (held.isolate !== undefined) {
      this.#metrics.bisected.inc()
      // Each committed part is settled (and published) as its own transaction.
      const r = await writeIsolating(this.#writer, part, meta, held.isolate, (c, only) => this.#settle(held, parsed, c, only))
      this.#log.warn({ signature: held.isolate, messages: batch.replies.length, transactions: r.transactions, deadLettered: r.rejections.length, failed: r.error?.message }, 'batch bisected')
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
    if (this.#states.current === 'closed' || (this.#states.draining && away)) {
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
    const was = this.#states.on('held')
    if (was === 'running' || was === 'draining') this.#log.warn({ refusal: this.#refusal }, 'writes failing: holding batches and retrying')
    this.#failures++
    this.#metrics.writeRetries.inc()
    if (this.#retryTimer !== undefined) return
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      this.#retryDue = true
      this.#pump()
    }, this.#policy.backoffMs(this.#failures))
  }

  /** `only`: the messages this commit settled (1); absent: all of them. */
  #settle (held: Held, parsed: ParsedBatch, r: Committed, only: Uint8Array | undefined): void {
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
    const was = this.#states.on('committed')
    if (was === 'db-down' || was === 'draining-db-down') this.#log.info('database takes writes again: resuming')
    if (r.alreadyCommitted.length > 0) this.#log.info({ messages: r.alreadyCommitted.length }, 'redelivered messages were already committed: acked without writing again')
    const added = observeCommit(this.#metrics, parsed, batch.replies.length, r, only, now)
    if (this.#opts.onCommitted !== undefined && r.rows > 0) {
      try {
        this.#opts.onCommitted(added, r.commitNo)
      } catch (err) {
        this.#log.warn({ err }, 'committed-batch listener failed')
      }
    }
    this.#log.debug({ messages: batch.replies.length, rows: r.rows, rejected: counts.termed, acked: counts.acked, ms: Math.round(r.durationMs) }, 'batch committed')
  }

  #checkIdle (): void {
    if (this.#idle !== undefined && this.#inFlight === 0 && (this.#queue.length === 0 || this.#states.dbDown)) this.#idle()
  }

  /**
   * Drain: settle everything taken in (the source must be stopped first). Resolves true when all
   * batches were committed or nak'd by the deadline; otherwise naks what is left and resolves false.
   * A batch failing while draining is nak'd at once (no retry loop outlives the drain).
   * Idempotent: every call returns the first call's promise (and its deadline).
   */
  close (deadlineMs: number): Promise<boolean> {
    this.#closing ??= this.#drain(deadlineMs)
    return this.#closing
  }

  async #drain (deadlineMs: number): Promise<boolean> {
    this.#states.on('close')
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
    this.#states.on('drained')
    this.#held.shut()
    return ok && this.#inFlight === 0
  }
}

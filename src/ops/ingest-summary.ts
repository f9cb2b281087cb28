/**
 * Every log.summary_interval_ms (0: off): refreshes the consumer gauges from JetStream
 * (`cnc_consumer_pending_messages`, `cnc_consumer_ack_pending_messages`) and logs one
 * 'ingest summary' line (msg/s, received, committed, rejected, in flight) when messages arrived
 * since the last one. One line per interval, never per message.
 *
 * Invariant: while NATS is away the gauges keep their last value (readiness reads the pending one).
 */
import type { Logger } from 'pino'
import type { Metrics } from '../metrics.js'

export interface ConsumerCounts { readonly num_pending: number, readonly num_ack_pending: number }

export interface IngestSummaryOptions {
  readonly everyMs: number
  readonly metrics: Metrics
  /** The consumer's counts, asked of JetStream each interval. */
  readonly consumerInfo: () => Promise<ConsumerCounts>
  readonly inFlight: () => number | undefined
  readonly log: Logger
}

interface Totals { received: number, committed: number, rejected: number, at: number }

export class IngestSummary {
  readonly #o: IngestSummaryOptions
  #timer: NodeJS.Timeout | undefined
  #last: Totals = { received: 0, committed: 0, rejected: 0, at: Date.now() }

  constructor (o: IngestSummaryOptions) {
    this.#o = o
  }

  start (): void {
    if (this.#o.everyMs === 0 || this.#timer !== undefined) return
    this.#last = { received: 0, committed: 0, rejected: 0, at: Date.now() }
    this.#timer = setInterval(() => {
      this.#tick().catch((err: unknown) => this.#o.log.warn({ err }, 'summary failed'))
    }, this.#o.everyMs)
    this.#timer.unref()
  }

  close (): void {
    clearInterval(this.#timer)
  }

  async #tick (): Promise<void> {
    const { metrics: m, log } = this.#o
    const now = {
      received: (await m.received.get()).values[0]?.value ?? 0,
      committed: (await m.committed.get()).values[0]?.value ?? 0,
      rejected: (await m.rejected.get()).values.reduce((s, v) => s + v.value, 0),
      at: Date.now(),
    }
    const last = this.#last
    const secs = (now.at - last.at) / 1000
    try {
      const ci = await this.#o.consumerInfo()
      m.consumerPending.set(ci.num_pending)
      m.consumerAckPending.set(ci.num_ack_pending)
    } catch { /* NATS away: the gauges keep their last value */ }
    if (now.received !== last.received) {
      log.info({
        msgPerSec: Math.round((now.committed - last.committed + now.rejected - last.rejected) / secs),
        received: now.received - last.received,
        committed: now.committed - last.committed,
        rejected: now.rejected - last.rejected,
        inFlight: this.#o.inFlight(),
      }, 'ingest summary')
    }
    this.#last = now
  }
}

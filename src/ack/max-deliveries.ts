/**
 * When JetStream gives up on a message (it was delivered max_deliver times and never settled), it
 * publishes a MAX_DELIVERIES advisory and never delivers the message again. So that nothing is ever
 * silently dropped, each such message is fetched from the stream by sequence and stored as a dead
 * letter with reason `max_deliveries` — unless the ledger shows it was committed (its acks were lost).
 *
 *   $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>  {"stream_seq": N, "deliveries": D, …}
 *
 * Advisories are core NATS messages: one that arrives while the service is down is not seen. The
 * pipeline makes reaching max_deliver rare (a batch one delivery from the limit is retried in place,
 * never nak'd), so this is the last line, not the main one. A database error is retried with backoff.
 */
import type { JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import type pg from 'pg'
import type { Logger } from 'pino'
import { RejectCode } from '../errors.js'
import type { Metrics } from '../metrics.js'
import { insertDeadLetters } from '../write/dead-letters.js'
import { findCommitted } from '../write/ledger.js'

interface Advisory { readonly stream_seq?: unknown, readonly deliveries?: unknown }

export class MaxDeliveriesListener {
  readonly #sub: Subscription
  #closed = false

  constructor (nc: NatsConnection, jsm: JetStreamManager, pool: pg.Pool, opts: { stream: string, consumer: string, streamKey: string }, metrics: Metrics, log: Logger) {
    const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${opts.stream}.${opts.consumer}`
    const record = async (seq: number, deliveries: number): Promise<void> => {
      const stored = await jsm.streams.getMessage(opts.stream, { seq })
      if (stored === null) return // already removed from the stream by its limits
      const client = await pool.connect()
      try {
        if ((await findCommitted(client, opts.streamKey, [seq])) !== null) return
        await insertDeadLetters(client, [{
          subject: stored.subject,
          streamSeq: seq,
          reason: RejectCode.maxDeliveries,
          detail: `JetStream delivered it ${deliveries} times (nats.max_deliver) without it being settled, and will not deliver it again`,
          payload: stored.data,
        }])
      } finally {
        client.release()
      }
      metrics.rejected.inc({ reason: RejectCode.maxDeliveries })
      log.warn({ seq, deliveries }, 'message reached max_deliver: stored as a dead letter')
    }
    this.#sub = nc.subscribe(subject, {
      callback: (err, m) => {
        if (err !== null) return
        let a: Advisory
        try {
          a = m.json<Advisory>()
        } catch {
          return
        }
        const seq = Number(a.stream_seq)
        if (!Number.isSafeInteger(seq) || seq <= 0) return
        const attempt = async (delayMs: number): Promise<void> => {
          try {
            await record(seq, Number(a.deliveries))
          } catch (e) {
            if (this.#closed) return
            log.warn({ seq, err: (e as Error).message }, 'could not store the max_deliver dead letter yet; retrying')
            setTimeout(() => { attempt(Math.min(delayMs * 2, 60_000)).catch(() => {}) }, delayMs).unref()
          }
        }
        attempt(1_000).catch(() => {})
      },
    })
  }

  close (): void {
    this.#closed = true
    this.#sub.unsubscribe()
  }
}

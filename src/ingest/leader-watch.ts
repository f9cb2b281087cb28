/**
 * Counts JetStream leader elections of the service's stream and consumer (a clustered JetStream:
 * a leader's server died, restarted or stepped down). While a new leader is elected, pulls get no
 * answer and the pull source re-pulls (cnc_pull_stalls_total); this counter says why.
 *
 *   $JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.<stream>
 *   $JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.<stream>.<consumer>
 *
 * Advisories are core NATS messages: one published while this instance is disconnected is not
 * seen, so the counter is a lower bound. Every instance counts every election (no queue group).
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { Metrics } from '../metrics.js'

export interface LeaderWatchOptions {
  readonly stream: string
  readonly consumer: string
}

export class LeaderWatch {
  readonly #subs: Subscription[] = []

  constructor (nc: NatsConnection, opts: LeaderWatchOptions, metrics: Metrics, log: Logger) {
    const watch = (kind: 'stream' | 'consumer', subject: string): void => {
      this.#subs.push(nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err !== null) return
          metrics.leaderElections.inc({ kind })
          let leader: unknown
          try { leader = (msg.json<{ leader?: unknown }>()).leader } catch { /* the count is what matters */ }
          log.info({ kind, leader }, `JetStream ${kind} leader elected`)
        },
      }))
    }
    watch('stream', `$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${opts.stream}`)
    watch('consumer', `$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.${opts.stream}.${opts.consumer}`)
  }

  close (): void {
    for (const s of this.#subs) s.unsubscribe()
    this.#subs.length = 0
  }
}

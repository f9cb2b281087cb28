/**
 * Follows the NATS connection's status: `connected` is false from a disconnect until the
 * reconnect, which counts `cnc_nats_reconnects_total` and calls `onReconnect` (the pull source
 * pulls afresh: pulls pending on the old connection are lost). The watch ends when the
 * connection closes.
 */
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { Metrics } from '../metrics.js'

export class NatsWatch {
  readonly #nc: NatsConnection
  readonly #onReconnect: () => void
  readonly #metrics: Metrics
  readonly #log: Logger
  #connected = false

  constructor (nc: NatsConnection, onReconnect: () => void, metrics: Metrics, log: Logger) {
    this.#nc = nc
    this.#onReconnect = onReconnect
    this.#metrics = metrics
    this.#log = log
  }

  /** True while the connection is up (false before start()). */
  get connected (): boolean { return this.#connected && !this.#nc.isClosed() }

  start (): void {
    this.#connected = true
    const log = this.#log
    ;(async () => {
      for await (const s of this.#nc.status()) {
        if (s.type === 'disconnect') {
          this.#connected = false
          log.warn({ server: s.server }, 'NATS disconnected')
        } else if (s.type === 'reconnect') {
          this.#connected = true
          this.#metrics.natsReconnects.inc()
          log.info({ server: s.server }, 'NATS reconnected: pulling again')
          this.#onReconnect()
        }
      }
    })().catch((err: unknown) => log.warn({ err }, 'NATS status watch ended'))
  }
}

/**
 * LISTEN on the machine registry's channel: one dedicated connection (outside the pools, a LISTEN
 * holds its session), reconnected after RETRY_MS when it drops. Every notification, and every
 * (re)connection (notifications sent while disconnected are lost), calls `changed`.
 *
 *   stopped ─start()─▶ connecting ─ok─▶ listening ─error/end─▶ waiting ─RETRY_MS─▶ connecting
 *   any ─close()─▶ closed
 */
import pg from 'pg'
import type { Logger } from 'pino'

/** Channel of NOTIFYs sent after a machine is registered (store/machines.ts notifyMachines). */
export const MACHINES_CHANNEL = 'cnc_machines'
const RETRY_MS = 1_000

export class RegistryListener {
  readonly #url: string
  readonly #changed: () => void
  readonly #log: Logger
  #client: pg.Client | undefined
  #timer: NodeJS.Timeout | undefined
  #closed = false
  #failures = 0
  #connectedOnce = false

  constructor (url: string, changed: () => void, log: Logger) {
    this.#url = url
    this.#changed = changed
    this.#log = log
  }

  start (): void {
    if (this.#closed || this.#client !== undefined) return
    const client = new pg.Client({ connectionString: this.#url, application_name: 'cnc-monitor-registry' })
    this.#client = client
    const retry = (err: unknown): void => {
      if (this.#client !== client) return
      this.#client = undefined
      client.end().catch(() => {})
      if (this.#closed) return
      // Before the first connection the database may not exist yet (start-up creates it): not worth a warning.
      if (this.#failures++ === 0) this.#log[this.#connectedOnce ? 'warn' : 'debug']({ err: (err as Error | undefined)?.message }, 'machine registry listener not connected; retrying every second')
      this.#timer = setTimeout(() => this.start(), RETRY_MS)
      this.#timer.unref()
    }
    client.on('error', retry)
    client.on('end', () => retry(new Error('connection ended')))
    client.on('notification', (n) => { if (n.channel === MACHINES_CHANNEL) this.#changed() })
    client.connect()
      .then(() => client.query(`LISTEN ${MACHINES_CHANNEL}`))
      .then(() => {
        if (this.#failures > 0 && this.#connectedOnce) this.#log.info('machine registry listener connected')
        this.#failures = 0
        this.#connectedOnce = true
        this.#changed()
      }, retry)
  }

  close (): void {
    this.#closed = true
    clearTimeout(this.#timer)
    const c = this.#client
    this.#client = undefined
    c?.end().catch(() => {})
  }
}

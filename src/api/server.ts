/**
 * The HTTP server (uWebSockets.js). This file owns listen/close and the route table; each resource's
 * handlers live in their own file. uWS rules (shared/STYLE.md): answer synchronously, or register
 * onAborted before the first await and write inside cork() after it.
 */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { loadNativeUws, type Uws } from './uws.js'

export interface Readiness {
  /** null when ready; otherwise what is not, e.g. { database: 'down' }. */
  check (): Promise<Record<string, string> | null>
}

export interface ServerDeps {
  readonly host: string
  readonly port: number
  readonly registry: Registry
  readonly readiness: Readiness
  readonly log: Logger
}

const JSON_TYPE = 'application/json'

export class ApiServer {
  readonly #deps: ServerDeps
  readonly #uws: typeof Uws
  #listenSocket: Uws.us_listen_socket | false = false
  #port = 0

  constructor (deps: ServerDeps) {
    this.#deps = deps
    this.#uws = loadNativeUws()
  }

  get port (): number { return this.#port }

  async start (): Promise<void> {
    const { host, port, registry, readiness, log } = this.#deps
    const app = this.#uws.App()

    app.get('/livez', (res) => {
      res.cork(() => res.writeHeader('Content-Type', JSON_TYPE).end('{"status":"ok"}'))
    })

    app.get('/readyz', (res) => {
      let aborted = false
      res.onAborted(() => { aborted = true })
      readiness.check().then((problems) => {
        if (aborted) return
        res.cork(() => {
          if (problems === null) res.writeHeader('Content-Type', JSON_TYPE).end('{"status":"ready"}')
          else res.writeStatus('503 Service Unavailable').writeHeader('Content-Type', JSON_TYPE).end(JSON.stringify({ status: 'not_ready', checks: problems }))
        })
      }, (err: unknown) => {
        log.error({ err }, 'readiness check failed')
        if (!aborted) res.cork(() => res.writeStatus('503 Service Unavailable').writeHeader('Content-Type', JSON_TYPE).end('{"status":"not_ready"}'))
      })
    })

    app.get('/metrics', (res) => {
      let aborted = false
      res.onAborted(() => { aborted = true })
      registry.metrics().then((text) => {
        if (!aborted) res.cork(() => res.writeHeader('Content-Type', registry.contentType).end(text))
      }, (err: unknown) => {
        log.error({ err }, 'metrics collection failed')
        if (!aborted) res.cork(() => res.writeStatus('500 Internal Server Error').end())
      })
    })

    app.any('/*', (res) => {
      res.cork(() => res.writeStatus('404 Not Found').writeHeader('Content-Type', JSON_TYPE)
        .end('{"error":{"code":"not_found","message":"no such route"}}'))
    })

    await new Promise<void>((resolve, reject) => {
      app.listen(host, port, (socket) => {
        if (socket === false) {
          reject(new Error(`cannot listen on ${host}:${port} (address in use or not permitted)`))
          return
        }
        this.#listenSocket = socket
        this.#port = this.#uws.us_socket_local_port(socket)
        resolve()
      })
    })
    log.info({ host, port: this.#port }, 'http server listening')
  }

  close (): void {
    if (this.#listenSocket !== false) {
      this.#uws.us_listen_socket_close(this.#listenSocket)
      this.#listenSocket = false
    }
  }
}

/**
 * The HTTP server (uWebSockets.js): listen/close and the route table. Each resource's handlers
 * live in their own file and return their Routes; router.ts mounts them (404/405, auth, metrics).
 * uWS rules (shared/STYLE.md): every request becomes an Exchange, which registers onAborted before
 * any handler code runs and writes inside cork(); handlers read req only synchronously.
 */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { ErrorCode, ServiceError } from '../errors.js'
import { tokenCheck } from './auth.js'
import { healthRoutes } from './health.js'
import { ApiErrorCode, HttpError } from './http.js'
import { createHttpMetrics, type HttpMetrics } from './http-metrics.js'
import { DbGate, type BacklogYield } from './db-gate.js'
import { hostCheck, originCheck, type HostCheck } from './edge.js'
import { machineRoutes } from './machines.js'
import { MachineRegistry } from './machine-registry.js'
import type { Detached } from './turn-batch.js'
import { RegistryListener } from '../store/registry-listener.js'
import { ReadinessCache, type Readiness } from './readiness-cache.js'
import { readingRoutes } from './readings.js'
import { PageEncoder } from './page-encoder.js'
import { rejectedRoutes } from './rejected.js'
import { mount, type Route } from './router.js'
import type { Store, StoreAccess } from './store-access.js'
import { loadNativeUws, type Uws } from './uws.js'
// Live feed, fleet reads and the operator page (issue 7).
import { fleetRoutes, type FleetOptions } from './fleet.js'
import type { LiveFeed } from './live-feed.js'
import { mountWeb } from './static.js'
// Plant-floor answers (issue 12).
import { availabilityRoutes, type PlantOptions } from './availability.js'
import { eventRoutes } from './events.js'
import { alarmRoutes } from './alarms.js'

export type { Readiness, Store }

/** uWS ListenOptions value (the native module exports it; the typings only as an enum type). */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1

export interface ServerDeps {
  readonly host: string
  readonly port: number
  readonly registry: Registry
  readonly readiness: Readiness
  readonly log: Logger
  readonly store: () => Store | undefined
  /** http.auth_token; '' = no auth. */
  readonly authToken: string
  /** http.allowed_hosts (checked while authToken is ''), http.allowed_origins (WebSocket), edge.ts. */
  readonly allowedHosts?: readonly string[]
  readonly allowedOrigins?: readonly string[]
  /** database.api_pool_size: queries admitted at once (db-gate.ts); default 4. */
  readonly dbSlots?: number
  /** http.db_wait_ms: longest wait for a connection before 503 api_busy; default 5000. */
  readonly dbWaitMs?: number
  /** Heavy reads yield to an ingest backlog (db-gate.ts). */
  readonly backlog?: BacklogYield
  /** http.page_threads: worker threads encoding window pages (page-encoder.ts); default 0 (in place). */
  readonly pageThreads?: number
  /** Issue 7: /api/v1/fleet/latest and /machines/:id/states (absent = not mounted). */
  readonly fleet?: FleetOptions
  /** Issue 7: the WebSocket feed at /api/v1/live (absent = not mounted). */
  readonly live?: LiveFeed
  /** Issue 12: availability by shift and machine events (absent = not mounted). */
  readonly plant?: PlantOptions
  /** Issue 16: the database whose NOTIFYs invalidate the machine registry copy (database.url); absent = its age alone bounds it. */
  readonly registryNotifyUrl?: string
}

/**
 * Routes whose queries may run long (fleet-wide, or a window of up to 366 days): they share at
 * most database.api_pool_size − 1 connections (db-gate.ts), so one-row reads always get one.
 */
const HEAVY_ROUTES = new Set(['/api/v1/fleet/latest', '/api/v1/machines/:id/data', '/api/v2/machines/:id/data', '/api/v1/machines/:id/states', '/api/v1/rejected', '/api/v1/machines'])

/** A route behind the Host check (routes that need the token, while none is set) and the DB gate's context. */
function guarded (r: Route, gate: DbGate, hosts: HostCheck | null, metrics: HttpMetrics): Route {
  const heavy = HEAVY_ROUTES.has(r.pattern) && r.method === 'GET'
  return {
    ...r,
    handler: (ex) => {
      if (r.auth && hosts !== null && !hosts(ex.headers.host)) {
        metrics.refused.inc({ reason: 'host' })
        throw new HttpError(ApiErrorCode.hostNotAllowed,
          `Host ${JSON.stringify(ex.headers.host.slice(0, 100))} is not allowed without http.auth_token: use a loopback address, or add the name to http.allowed_hosts`)
      }
      return gate.context.run({ heavy, onAbort: (cb) => ex.onAbort(cb) }, () => r.handler(ex))
    },
  }
}

export class ApiServer {
  readonly #deps: ServerDeps
  readonly #uws: typeof Uws
  #listenSocket: Uws.us_listen_socket | false = false
  #port = 0
  #routes: readonly Route[] = []
  #readiness: ReadinessCache | undefined
  #registryListener: RegistryListener | undefined
  readonly #encoder: PageEncoder

  constructor (deps: ServerDeps) {
    this.#deps = deps
    this.#encoder = new PageEncoder(deps.pageThreads ?? 0)
    this.#uws = loadNativeUws()
  }

  get port (): number { return this.#port }
  /** The mounted routes (the OpenAPI test checks each one against the document). */
  get routes (): readonly Route[] { return this.#routes }

  async start (): Promise<void> {
    const { host, port, registry, readiness, log } = this.#deps
    const metrics = createHttpMetrics(registry)
    const gate = new DbGate(this.#deps.dbSlots ?? 4, this.#deps.dbWaitMs ?? 5_000, () => metrics.refused.inc({ reason: 'api_busy' }), this.#deps.backlog)
    let gated: { readonly from: Store, readonly to: Store } | undefined
    const store: StoreAccess = () => {
      const s = this.#deps.store()
      if (s === undefined) throw new HttpError(ApiErrorCode.databaseUnavailable, 'the service is starting; the database is not connected yet')
      if (gated?.from !== s) gated = { from: s, to: { db: gate.wrap(s.db), buckets: s.buckets } }
      return gated.to
    }
    this.#readiness = new ReadinessCache(readiness)
    const machines = new MachineRegistry()
    if (this.#deps.registryNotifyUrl !== undefined) {
      this.#registryListener = new RegistryListener(this.#deps.registryNotifyUrl, () => machines.invalidate(), log)
      this.#registryListener.start()
    }
    // Batched reads (turn-batch.ts) are admitted as their route's class, but outlive any one caller.
    const detached = (heavy: boolean): Detached => (f) => gate.context.run({ heavy, onAbort: () => {} }, f)
    this.#routes = [
      ...healthRoutes(registry, this.#readiness),
      ...machineRoutes(store, metrics, machines),
      ...readingRoutes(store, metrics, detached(false), this.#encoder),
      ...rejectedRoutes(store),
      ...(this.#deps.fleet === undefined ? [] : fleetRoutes(store, metrics, this.#deps.fleet, detached(true))),
      ...(this.#deps.plant === undefined ? [] : availabilityRoutes(store, metrics, this.#deps.plant)),
      ...(this.#deps.plant === undefined ? [] : eventRoutes(store, metrics, this.#deps.plant.offlineAfterSeconds)),
      ...(this.#deps.plant === undefined ? [] : alarmRoutes(store)),
    ]
    const app = this.#uws.App()
    const token = tokenCheck(this.#deps.authToken)
    const hosts = hostCheck(this.#deps.authToken, host, this.#deps.allowedHosts ?? [])
    mount(app, this.#routes.map((r) => guarded(r, gate, hosts, metrics)), { metrics, log, token })
    // Issue 7: the live feed's WebSocket route and the operator page at / (dist/web, when built).
    this.#deps.live?.attach(app, token, { hosts, origins: originCheck(this.#deps.allowedOrigins ?? []) })
    const web = mountWeb(app)
    if (web.length === 0) log.warn('operator page not built (dist/web missing): / answers 404')

    // LIBUS_LISTEN_EXCLUSIVE_PORT: by default uWS sets SO_REUSEPORT, and a second instance on the same
    // port would share it silently (issue 15). The native listen takes (host, port, options, cb); the
    // typings lack that overload.
    const listen = app.listen as unknown as (h: string, p: number, options: number, cb: (s: Uws.us_listen_socket | false) => void) => void
    await new Promise<void>((resolve, reject) => {
      listen.call(app, host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (socket === false) {
          reject(new ServiceError(ErrorCode.httpListenFailed, `http: cannot listen on ${host}:${port}: address in use (another process holds the port) or not permitted`))
          return
        }
        this.#listenSocket = socket
        this.#port = this.#uws.us_socket_local_port(socket)
        resolve()
      })
    })
    this.#readiness.start()
    log.info({ host, port: this.#port, auth: this.#deps.authToken !== '' }, 'http server listening')
  }

  close (): void {
    this.#encoder.close().catch(() => {})
    this.#readiness?.close()
    this.#registryListener?.close()
    this.#deps.live?.close()
    if (this.#listenSocket !== false) {
      this.#uws.us_listen_socket_close(this.#listenSocket)
      this.#listenSocket = false
    }
  }
}

/**
 * GET /api/v1/live: the WebSocket feed of committed readings, fanned out with uWS pub/sub.
 *
 *   client → {"subscribe": ["CNC-001", …]} | {"subscribe": "*"} | {"unsubscribe": [...] | "*"}
 *   server → {"type":"subscribed","machines":"*" | [ids]}
 *            {"type":"readings","data":[Reading, …]}        (Reading: the shape of /machines/{id}/data)
 *            {"type":"error","code":<LiveErrorCode>,"message":"…"}    (codes: errors.ts, LIVE_ERRORS)
 *
 * Topics: `m/<machine id>` per machine and `*` for everything; a "*" client holds only `*`, so it
 * never receives a reading twice. Readings are published from Pipeline.onCommitted, i.e. after
 * COMMIT and ack: never a row that could roll back. One frame per topic per committed batch.
 *
 * Bounds: live.max_clients (upgrade answers 503 beyond), live.max_subscriptions_per_client, and
 * live.max_buffered_bytes: while a socket holds more unsent bytes, uWS skips it (maxBackpressure;
 * each skipped frame counted as discarded), and once it has stayed over for SLOW_GRACE_MS the sweep
 * after a publish closes it (dropped, reason "slow"). The grace keeps a reader on a slow link that
 * just took one large frame; a client that stopped reading costs ingest one getBufferedAmount()
 * per client per publish, and nothing else.
 */
import type { Logger } from 'pino'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { ParsedBatch } from '../contracts.js'
import type { TokenCheck } from './auth.js'
import type { HostCheck, OriginCheck } from './edge.js'
import { LiveErrorCode } from '../errors.js'
import { isMachineId, MACHINE_ID_MAX_LENGTH } from '../machine-id.js'
import { ApiErrorCode, errorBody, HttpError, JSON_TYPE, statusLine } from './http.js'
import { LiveThrottle, readingFrame, type MachineRows } from './live-throttle.js'
import type { Uws } from './uws.js'

export interface LiveFeedOptions {
  readonly maxClients: number
  readonly maxSubscriptionsPerClient: number
  readonly maxBufferedBytes: number
  /** 0 = every reading; otherwise at most this many per machine per second, latest wins. */
  readonly maxPerMachinePerSecond: number
  readonly registry: Registry
  readonly log: Logger
}

/** Edge checks of the upgrade request (edge.ts): Host while no token is set (null = off), and Origin. */
export interface LiveEdge { readonly hosts: HostCheck | null, readonly origins: OriginCheck }

interface Client { all: boolean, readonly machines: Set<string>, overSince: number }
type Ws = Uws.WebSocket<Client>

export const LIVE_PATH = '/api/v1/live'
/** How long a client may stay over live.max_buffered_bytes (skipped meanwhile) before it is closed. */
export const SLOW_GRACE_MS = 1_000
const ALL = '*'
const MAX_CLIENT_MESSAGE = 64 * 1024
/** An upgrade refused with a catalogued error (same body as every HTTP error, http.ts). */
function answer (res: Uws.HttpResponse, err: HttpError): void {
  res.cork(() => {
    res.writeStatus(statusLine(err.status)).writeHeader('Content-Type', JSON_TYPE)
    for (const [k, v] of Object.entries(err.headers)) res.writeHeader(k, v)
    res.end(errorBody(err.code, err.message))
  })
}

export const topicOf = (id: string): string => 'm/' + id

function createLiveMetrics (registry: Registry) {
  const registers = [registry]
  return {
    clients: new Gauge({ name: 'cnc_live_clients', help: 'Connected live-feed WebSocket clients', registers }),
    sent: new Counter({ name: 'cnc_live_messages_sent_total', help: 'Live-feed frames handed to clients (one frame carries the readings of one batch and topic)', registers }),
    readings: new Counter({ name: 'cnc_live_readings_published_total', help: 'Readings serialized and published to the live feed', registers }),
    coalesced: new Counter({ name: 'cnc_live_readings_coalesced_total', help: 'Readings not sent because a newer one of the same machine replaced it (live.max_per_machine_per_second)', registers }),
    discarded: new Counter({ name: 'cnc_live_messages_discarded_total', help: 'Live-feed frames not sent to a client because it was over live.max_buffered_bytes', registers }),
    dropped: new Counter({ name: 'cnc_live_clients_dropped_total', help: 'Live-feed clients disconnected by the server, by reason (slow: over live.max_buffered_bytes)', labelNames: ['reason'] as const, registers }),
    refused: new Counter({ name: 'cnc_live_refused_total', help: 'Live-feed upgrades refused, by reason (max_clients, unauthorized, host, origin)', labelNames: ['reason'] as const, registers }),
    publishSeconds: new Histogram({ name: 'cnc_live_publish_seconds', help: 'Time the ingest thread spent fanning out one committed batch', buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1], registers }),
  }
}

export class LiveFeed {
  readonly #opts: LiveFeedOptions
  readonly #metrics: ReturnType<typeof createLiveMetrics>
  readonly #clients = new Set<Ws>()
  /** Clients over live.max_buffered_bytes at the last sweep (usually empty). */
  readonly #slow = new Set<Ws>()
  readonly #throttle: LiveThrottle
  #app: Uws.TemplatedApp | undefined
  #sweepTimer: NodeJS.Timeout | undefined

  constructor (opts: LiveFeedOptions) {
    this.#opts = opts
    this.#metrics = createLiveMetrics(opts.registry)
    this.#throttle = new LiveThrottle(opts.maxPerMachinePerSecond, (rows) => this.#emit(rows), (n) => this.#metrics.coalesced.inc(n))
  }

  get clients (): number { return this.#clients.size }

  /** Registers the WebSocket route on the server's app (server.ts calls this before listen). */
  attach (app: Uws.TemplatedApp, token: TokenCheck | null, edge: LiveEdge = { hosts: null, origins: () => true }): void {
    this.#app = app
    const { maxClients, maxBufferedBytes, log } = this.#opts
    app.ws<Client>(LIVE_PATH, {
      maxPayloadLength: MAX_CLIENT_MESSAGE,
      maxBackpressure: maxBufferedBytes,
      closeOnBackpressureLimit: 0,
      idleTimeout: 120,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => {
        // Synchronous: every header is read and the answer written before returning.
        const key = req.getHeader('sec-websocket-key')
        const protocol = req.getHeader('sec-websocket-protocol')
        const extensions = req.getHeader('sec-websocket-extensions')
        const authorization = req.getHeader('authorization')
        const queryToken = new URLSearchParams(req.getQuery() ?? '').get('token')
        const host = req.getHeader('host')
        const origin = req.getHeader('origin')
        if (edge.hosts !== null && !edge.hosts(host)) {
          this.#refuse(res, 'host', new HttpError(ApiErrorCode.hostNotAllowed, `Host ${JSON.stringify(host.slice(0, 100))} is not allowed without http.auth_token (add it to http.allowed_hosts)`))
          return
        }
        if (!edge.origins(origin, host)) {
          this.#refuse(res, 'origin', new HttpError(ApiErrorCode.originNotAllowed, `Origin ${JSON.stringify(origin.slice(0, 200))} is not this server's origin nor in http.allowed_origins`))
          return
        }
        if (token !== null && !token(authorization) && !(queryToken !== null && token('Bearer ' + queryToken))) {
          this.#refuse(res, 'unauthorized', new HttpError(ApiErrorCode.unauthorized, 'missing or wrong bearer token (Authorization header or ?token=)', { 'WWW-Authenticate': 'Bearer' }))
          return
        }
        if (this.#clients.size >= maxClients) {
          this.#refuse(res, 'max_clients', new HttpError(ApiErrorCode.liveFeedFull, `live feed is full (live.max_clients = ${maxClients})`, { 'Retry-After': '5' }))
          return
        }
        res.upgrade<Client>({ all: false, machines: new Set(), overSince: 0 }, key, protocol, extensions, context)
      },
      open: (ws) => {
        this.#clients.add(ws)
        this.#metrics.clients.set(this.#clients.size)
      },
      message: (ws, message) => { this.#onMessage(ws, Buffer.from(message).toString('utf8')) },
      close: (ws) => {
        this.#clients.delete(ws)
        this.#slow.delete(ws)
        this.#metrics.clients.set(this.#clients.size)
      },
    })
    // uWS hands a GET without the upgrade headers on to the next route with this pattern.
    app.get(LIVE_PATH, (res) => {
      answer(res, new HttpError(ApiErrorCode.upgradeRequired, 'this is a WebSocket endpoint: connect with ws:// (see the README, "Live feed")', { Upgrade: 'websocket' }))
    })
    log.debug({ path: LIVE_PATH }, 'live feed attached')
  }

  #refuse (res: Uws.HttpResponse, reason: 'host' | 'origin' | 'unauthorized' | 'max_clients', err: HttpError): void {
    this.#metrics.refused.inc({ reason })
    answer(res, err)
  }

  /**
   * Pipeline.onCommitted: runs on the ingest thread, so it never throws and does no work for
   * machines nobody watches (numSubscribers per distinct machine of the batch, before any parse).
   */
  publish (p: ParsedBatch): void {
    const app = this.#app
    if (app === undefined || this.#clients.size === 0) return
    const started = performance.now()
    try {
      const all = app.numSubscribers(ALL) > 0
      const wanted = new Uint8Array(p.machines.length)
      let any = false
      for (let m = 0; m < p.machines.length; m++) {
        if (all || app.numSubscribers(topicOf(p.machines[m] as string)) > 0) { wanted[m] = 1; any = true }
      }
      if (any) this.#throttle.offer(p, wanted)
    } catch (err) {
      this.#opts.log.warn({ err }, 'live feed publish failed')
    }
    this.#metrics.publishSeconds.observe((performance.now() - started) / 1000)
  }

  /** Issue 12: one event frame (an alarm opened or cleared) to the machine's subscribers and to "*". */
  event (machineId: string, frame: string): void {
    const app = this.#app
    if (app === undefined || this.#clients.size === 0) return
    app.publish(topicOf(machineId), frame)
    app.publish(ALL, frame)
  }

  /** Publishes readings grouped by machine: one frame per machine topic, one for "*". */
  #emit (rows: MachineRows): void {
    const app = this.#app
    if (app === undefined) return
    const allSubs = app.numSubscribers(ALL)
    const everything: string[] = []
    let readings = 0
    for (const [id, list] of rows) {
      readings += list.length
      const topic = topicOf(id)
      const subs = app.numSubscribers(topic)
      if (subs > 0) {
        const skipped = this.#skipped((c) => c.machines.has(id))
        app.publish(topic, readingFrame(list))
        this.#metrics.sent.inc(subs - skipped)
      }
      if (allSubs > 0) for (const r of list) everything.push(r)
    }
    if (allSubs > 0 && everything.length > 0) {
      const skipped = this.#skipped((c) => c.all)
      app.publish(ALL, readingFrame(everything))
      this.#metrics.sent.inc(allSubs - skipped)
    }
    this.#metrics.readings.inc(readings)
    this.#sweep()
  }

  /** Counts (as discarded) the frames uWS is about to skip: subscribers still over the limit. */
  #skipped (subscribed: (c: Client) => boolean): number {
    if (this.#slow.size === 0) return 0
    let n = 0
    for (const ws of this.#slow) if (subscribed(ws.getUserData()) && ws.getBufferedAmount() > this.#opts.maxBufferedBytes) n++
    if (n > 0) this.#metrics.discarded.inc(n)
    return n
  }

  /** Marks clients over live.max_buffered_bytes; closes those over it for SLOW_GRACE_MS. */
  #sweep (): void {
    const limit = this.#opts.maxBufferedBytes
    const now = performance.now()
    for (const ws of this.#clients) {
      const c = ws.getUserData()
      if (ws.getBufferedAmount() <= limit) {
        if (c.overSince !== 0) { c.overSince = 0; this.#slow.delete(ws) }
      } else if (c.overSince === 0) {
        c.overSince = now
        this.#slow.add(ws)
      } else if (now - c.overSince >= SLOW_GRACE_MS) {
        this.#clients.delete(ws)
        this.#slow.delete(ws)
        this.#metrics.dropped.inc({ reason: 'slow' })
        ws.close()
      }
    }
    this.#metrics.clients.set(this.#clients.size)
    // Without further publishes, a client that stays over is still closed after the grace.
    if (this.#slow.size > 0 && this.#sweepTimer === undefined) {
      this.#sweepTimer = setTimeout(() => { this.#sweepTimer = undefined; this.#sweep() }, SLOW_GRACE_MS / 2)
      this.#sweepTimer.unref()
    }
  }

  #onMessage (ws: Ws, text: string): void {
    const c = ws.getUserData()
    const fail = (code: LiveErrorCode, message: string): void => { ws.send(JSON.stringify({ type: 'error', code, message })) }
    let req: unknown
    try {
      req = JSON.parse(text)
    } catch {
      fail(LiveErrorCode.invalidMessage, 'not JSON; send {"subscribe": ["CNC-001"]} or {"subscribe": "*"}')
      return
    }
    const body = (typeof req === 'object' && req !== null ? req : {}) as { subscribe?: unknown, unsubscribe?: unknown }
    const sub = body.subscribe
    const unsub = body.unsubscribe
    const isList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isMachineId)
    if ((sub === undefined && unsub === undefined) || (sub !== undefined && sub !== ALL && !isList(sub)) ||
      (unsub !== undefined && unsub !== ALL && !isList(unsub))) {
      fail(LiveErrorCode.invalidMessage, `expected {"subscribe"|"unsubscribe": "*" or a list of machine ids (1–${MACHINE_ID_MAX_LENGTH} characters, no NUL)}`)
      return
    }
    if (unsub === ALL) {
      if (c.all) ws.unsubscribe(ALL)
      c.all = false
      for (const id of c.machines) ws.unsubscribe(topicOf(id))
      c.machines.clear()
    } else if (unsub !== undefined) {
      for (const id of unsub) if (c.machines.delete(id)) ws.unsubscribe(topicOf(id))
    }
    if (sub === ALL) {
      for (const id of c.machines) ws.unsubscribe(topicOf(id))
      c.machines.clear()
      if (!c.all) ws.subscribe(ALL)
      c.all = true
    } else if (sub !== undefined && !c.all) {
      const fresh = new Set(sub.filter((id) => !c.machines.has(id)))
      const max = this.#opts.maxSubscriptionsPerClient
      if (c.machines.size + fresh.size > max) {
        fail(LiveErrorCode.tooManySubscriptions, `at most ${max} machines per client (live.max_subscriptions_per_client); use "*" for all`)
        return
      }
      for (const id of fresh) { c.machines.add(id); ws.subscribe(topicOf(id)) }
    }
    ws.send(JSON.stringify({ type: 'subscribed', machines: c.all ? ALL : [...c.machines].sort() }))
  }

  /** Closes every client (shutdown). */
  close (): void {
    clearTimeout(this.#sweepTimer)
    this.#throttle.close()
    for (const ws of [...this.#clients]) ws.end(1001, 'server shutting down')
    this.#clients.clear()
    this.#slow.clear()
    this.#metrics.clients.set(0)
  }
}

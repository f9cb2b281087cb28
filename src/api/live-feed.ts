/**
 * GET /api/v1/live: the WebSocket feed of committed readings, fanned out with uWS pub/sub.
 *
 *   client → {"subscribe": ["CNC-001", …] | "*", "exact"?: true} | {"unsubscribe": [...] | "*"}
 *            {"subscribe": … , "since": "<cursor>"}     (resume, exact: while the connection holds no subscription)
 *   server → {"type":"subscribed","machines":"*" | [ids], "exact"?: true}
 *            {"type":"readings","cursor":"…","data":[Reading, …]}   (Reading: the shape of /machines/{id}/data;
 *                                                    cursor on exact subscriptions only)
 *            {"type":"resumed","readings":n}          (a resume's replay is over; live frames follow)
 *            {"type":"error","code":<LiveErrorCode>,"message":"…"}    (codes: errors.ts, LIVE_ERRORS)
 *
 * Two families of topics, one per kind of subscription (a connection is one kind for all its
 * subscriptions; it chooses with its subscribe while it holds none, live-request.ts):
 *   throttled  `m/<id>` and `*`    at most live.max_per_machine_per_second readings per machine, no cursor
 *   exact      `e/<id>` and `e*`   every reading, frames with cursors (live.max_per_machine_per_second 0:
 *                                 every subscription is exact)
 * A family is serialized only for machines someone subscribed to in it, and the exact one only while
 * an exact client is connected: a throttled-only deployment pays what it did before exact existed.
 * A "*" client holds only its family's "*", so it never receives a reading twice. Readings are
 * published from Pipeline.onCommitted, i.e. after COMMIT and ack: never a row that could roll back.
 * One frame per topic per committed transaction.
 *
 * Bounds: live.max_clients (upgrade answers 503 beyond), live.max_subscriptions_per_client, and
 * live.max_buffered_bytes: while a socket holds more unsent bytes, uWS skips it (maxBackpressure;
 * each skipped frame counted as discarded), and once it has stayed over for SLOW_GRACE_MS the sweep
 * after a publish closes it (dropped, reason "slow"). The grace keeps a reader on a slow link that
 * just took one large frame; a client that stopped reading costs ingest one getBufferedAmount()
 * per client per publish, and nothing else. An exact client costs ingest the serialization of its
 * machines' rows, once per transaction whatever the number of exact clients (one frame per topic),
 * plus uWS copying each frame into its socket buffer, which the same two bounds cap.
 *
 * Resume (issue 12, exact subscriptions): frames carry the cursor of their commit (live-cursor.ts;
 * machine frames of one commit go out in machine id order); {"subscribe": …, "since": cursor}
 * replays from the database, then joins the live frames with no gap or duplicate (live-resume.ts).
 */
import type { Logger } from 'pino'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { ParsedBatch } from '../contracts.js'
import type { TokenCheck } from './auth.js'
import type { HostCheck, OriginCheck } from './edge.js'
import { LiveErrorCode } from '../errors.js'
import { ApiErrorCode, errorBody, HttpError, JSON_TYPE, statusLine } from './http.js'
import type { SqlClient } from '../write/sql-client.js'
import { compareIds, cursorFrame, decodeCursor } from './live-cursor.js'
import { parseLiveRequest, type Machines } from './live-request.js'
import { LiveResumes } from './live-resume.js'
import { LiveThrottle, readingFrame, type MachineRows } from './live-throttle.js'
import type { Uws } from './uws.js'

export interface LiveFeedOptions {
  readonly maxClients: number
  readonly maxSubscriptionsPerClient: number
  readonly maxBufferedBytes: number
  /** Throttled subscriptions: at most this many readings per machine per second, latest wins; 0 = every subscription exact. */
  readonly maxPerMachinePerSecond: number
  /** Oldest cursor accepted in "since" (seconds); 0 = no resume. */
  readonly resumeMaxAgeS: number
  /** The primary database (never a replica: the seam needs every commit published so far), once connected. */
  readonly db: () => SqlClient | undefined
  readonly registry: Registry
  readonly log: Logger
}

/** Edge checks of the upgrade request (edge.ts): Host while no token is set (null = off), and Origin. */
export interface LiveEdge { readonly hosts: HostCheck | null, readonly origins: OriginCheck }

/** exact: which family of topics the connection's subscriptions are in (see the header). */
interface Client { exact: boolean, all: boolean, readonly machines: Set<string>, overSince: number, closed: boolean }
type Ws = Uws.WebSocket<Client>

export const LIVE_PATH = '/api/v1/live'
/** How long a client may stay over live.max_buffered_bytes (skipped meanwhile) before it is closed. */
export const SLOW_GRACE_MS = 1_000
const ALL = '*'
const EXACT_ALL = 'e*'
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
export const exactTopicOf = (id: string): string => 'e/' + id
const machineTopic = (c: Client, id: string): string => c.exact ? exactTopicOf(id) : topicOf(id)
const allTopic = (c: Client): string => c.exact ? EXACT_ALL : ALL

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
    resumes: new Counter({ name: 'cnc_live_resumes_total', help: 'Live-feed resumes ({"since"}) by outcome (ok, too_old, overflow, failed)', labelNames: ['outcome'] as const, registers }),
    replayed: new Counter({ name: 'cnc_live_readings_replayed_total', help: 'Readings sent from the database to resuming live-feed clients', registers }),
    publishSeconds: new Histogram({ name: 'cnc_live_publish_seconds', help: 'Time the ingest thread spent fanning out one committed batch', buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1], registers }),
  }
}

export class LiveFeed {
  readonly #opts: LiveFeedOptions
  readonly #metrics: ReturnType<typeof createLiveMetrics>
  readonly #clients = new Set<Ws>()
  /** Clients over live.max_buffered_bytes at the last sweep (usually empty). */
  readonly #slow = new Set<Ws>()
  /** The throttled family (live.max_per_machine_per_second) and the exact one (every reading). */
  readonly #throttle: LiveThrottle
  readonly #exact: LiveThrottle
  /** Connections in the exact family (resuming ones included). */
  readonly #exactClients = new Set<Ws>()
  /** Clients whose resume is under way (not subscribed to any topic meanwhile). */
  readonly #resumes: LiveResumes<Ws>
  /** The commit number of the transaction being emitted (exact family only). */
  #commitNo: number | undefined
  #app: Uws.TemplatedApp | undefined
  #sweepTimer: NodeJS.Timeout | undefined

  constructor (opts: LiveFeedOptions) {
    this.#opts = opts
    this.#metrics = createLiveMetrics(opts.registry)
    const { maxBufferedBytes, resumeMaxAgeS, log } = opts
    this.#resumes = new LiveResumes({ maxBufferedBytes, resumeMaxAgeS, log, resumes: this.#metrics.resumes, replayed: this.#metrics.replayed })
    this.#throttle = new LiveThrottle(opts.maxPerMachinePerSecond, (rows) => this.#emit(rows, false), (n) => this.#metrics.coalesced.inc(n))
    // Interval 0: emits every row of the batch synchronously inside offer(), so #commitNo is set.
    this.#exact = new LiveThrottle(0, (rows) => this.#emit(rows, true), () => {})
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
        res.upgrade<Client>({ exact: false, all: false, machines: new Set(), overSince: 0, closed: false }, key, protocol, extensions, context)
      },
      open: (ws) => {
        this.#clients.add(ws)
        if (this.#opts.maxPerMachinePerSecond === 0) this.#setExact(ws, ws.getUserData(), true)
        this.#metrics.clients.set(this.#clients.size)
      },
      message: (ws, message) => { this.#onMessage(ws, Buffer.from(message).toString('utf8')) },
      close: (ws) => {
        ws.getUserData().closed = true
        this.#resumes.drop(ws)
        this.#exactClients.delete(ws)
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
   * Each family is looked at only while it has clients. `commitNo`: the transaction's live_commits
   * number, the exact frames' cursor.
   */
  publish (p: ParsedBatch, commitNo: number): void {
    const app = this.#app
    if (app === undefined || this.#clients.size === 0) return
    const started = performance.now()
    try {
      const count = p.machines.length
      const exact = this.#exactClients.size > 0 ? new Uint8Array(count) : null
      const plain = this.#exactClients.size < this.#clients.size ? new Uint8Array(count) : null
      const exactAll = exact !== null && (app.numSubscribers(EXACT_ALL) > 0 || this.#resumes.wants((r) => r.all))
      const plainAll = plain !== null && app.numSubscribers(ALL) > 0
      let anyExact = false
      let anyPlain = false
      for (let m = 0; m < count; m++) {
        const id = p.machines[m] as string
        if (exact !== null && (exactAll || app.numSubscribers(exactTopicOf(id)) > 0 || this.#resumes.wants((r) => r.machines.has(id)))) { exact[m] = 1; anyExact = true }
        if (plain !== null && (plainAll || app.numSubscribers(topicOf(id)) > 0)) { plain[m] = 1; anyPlain = true }
      }
      this.#commitNo = commitNo
      if (anyExact) this.#exact.offer(p, exact as Uint8Array)
      this.#commitNo = undefined
      if (anyPlain) this.#throttle.offer(p, plain as Uint8Array)
    } catch (err) {
      this.#opts.log.warn({ err }, 'live feed publish failed')
    } finally {
      this.#commitNo = undefined
    }
    this.#metrics.publishSeconds.observe((performance.now() - started) / 1000)
  }

  /** Issue 12: one event frame (an alarm opened or cleared) to the machine's subscribers and to "*". */
  event (machineId: string, frame: string): void {
    const app = this.#app
    if (app === undefined || this.#clients.size === 0) return
    app.publish(topicOf(machineId), frame)
    app.publish(ALL, frame)
    if (this.#exactClients.size === 0) return
    app.publish(exactTopicOf(machineId), frame)
    app.publish(EXACT_ALL, frame)
  }

  /** Puts a connection in the exact family or takes it out (it holds no subscription then). */
  #setExact (ws: Ws, c: Client, exact: boolean): void {
    c.exact = exact
    if (exact) this.#exactClients.add(ws)
    else this.#exactClients.delete(ws)
  }

  /**
   * Publishes readings grouped by machine to one family: one frame per machine topic, one for "*".
   * Exact frames carry cursors and machine frames go out in machine id order (live-cursor.ts).
   */
  #emit (rows: MachineRows, exact: boolean): void {
    const app = this.#app
    if (app === undefined) return
    const n = exact ? this.#commitNo : undefined
    const all = exact ? EXACT_ALL : ALL
    const allSubs = app.numSubscribers(all)
    const allWanted = allSubs > 0 || (exact && this.#resumes.wants((r) => r.all))
    const everything: string[] = []
    let readings = 0
    const ids = exact ? [...rows.keys()].sort(compareIds) : [...rows.keys()]
    for (const id of ids) {
      const list = rows.get(id) as string[]
      readings += list.length
      const topic = exact ? exactTopicOf(id) : topicOf(id)
      const subs = app.numSubscribers(topic)
      const held = exact && this.#resumes.wants((r) => r.machines.has(id))
      if (subs > 0 || held) {
        const frame = n === undefined ? readingFrame(list) : cursorFrame({ commitNo: n, machine: id }, list)
        if (subs > 0) {
          const skipped = this.#skipped((c) => c.exact === exact && c.machines.has(id))
          app.publish(topic, frame)
          this.#metrics.sent.inc(subs - skipped)
        }
        if (held) this.#resumes.hold(n, frame, (r) => r.machines.has(id))
      }
      if (allWanted) for (const r of list) everything.push(r)
    }
    if (allWanted && everything.length > 0) {
      const frame = n === undefined ? readingFrame(everything) : cursorFrame({ commitNo: n, machine: null }, everything)
      if (allSubs > 0) {
        const skipped = this.#skipped((c) => c.exact === exact && c.all)
        app.publish(all, frame)
        this.#metrics.sent.inc(allSubs - skipped)
      }
      if (exact) this.#resumes.hold(n, frame, (r) => r.all)
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
        // Out of both sets at once: the family checks in publish() compare their sizes.
        this.#clients.delete(ws)
        this.#exactClients.delete(ws)
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
    const req = parseLiveRequest(text)
    if (req.type === 'invalid') {
      fail(LiveErrorCode.invalidMessage, req.message)
      return
    }
    if (this.#resumes.has(ws)) {
      fail(LiveErrorCode.invalidMessage, 'a resume is under way on this connection: wait for {"type":"resumed"}')
      return
    }
    if (req.type === 'resume') {
      this.#startResume(ws, c, req.subscribe, req.since, fail)
      return
    }
    const { subscribe: sub, unsubscribe: unsub } = req
    const exact = req.exact === true || this.#opts.maxPerMachinePerSecond === 0
    if (req.exact !== undefined && exact !== c.exact && unsub !== ALL && (c.all || c.machines.size > 0)) {
      fail(LiveErrorCode.invalidMessage, `this connection's subscriptions are ${c.exact ? 'exact' : 'throttled'}, and "exact" holds for all of them: ` +
        'send {"unsubscribe": "*"} first to change it')
      return
    }
    if (unsub === ALL) {
      if (c.all) ws.unsubscribe(allTopic(c))
      c.all = false
      for (const id of c.machines) ws.unsubscribe(machineTopic(c, id))
      c.machines.clear()
    } else if (unsub !== undefined) {
      for (const id of unsub) if (c.machines.delete(id)) ws.unsubscribe(machineTopic(c, id))
    }
    if (sub !== undefined && !c.all && c.machines.size === 0) this.#setExact(ws, c, exact)
    if (sub === ALL) {
      for (const id of c.machines) ws.unsubscribe(machineTopic(c, id))
      c.machines.clear()
      if (!c.all) ws.subscribe(allTopic(c))
      c.all = true
    } else if (sub !== undefined && !c.all) {
      const fresh = new Set(sub.filter((id) => !c.machines.has(id)))
      if (c.machines.size + fresh.size > this.#opts.maxSubscriptionsPerClient) {
        fail(LiveErrorCode.tooManySubscriptions, this.#tooMany())
        return
      }
      for (const id of fresh) { c.machines.add(id); ws.subscribe(machineTopic(c, id)) }
    }
    this.#subscribed(ws, c, c.all ? null : [...c.machines].sort(compareIds))
  }

  /** The message of a too_many_subscriptions refusal (subscribe or resume). */
  #tooMany (): string {
    return `at most ${this.#opts.maxSubscriptionsPerClient} machines per client (live.max_subscriptions_per_client); use "*" for all`
  }

  /** The answer to a subscribe, unsubscribe or resume: what the connection holds now (null: "*"). */
  #subscribed (ws: Ws, c: Client, machines: readonly string[] | null): void {
    ws.send(JSON.stringify({ type: 'subscribed', machines: machines ?? ALL, ...(c.exact ? { exact: true } : {}) }))
  }

  /** Checks a {"subscribe", "since"} message and starts its resume (see the header). */
  #startResume (ws: Ws, c: Client, sub: Machines, since: unknown, fail: (code: LiveErrorCode, message: string) => void): void {
    const cursor = decodeCursor(since)
    if (cursor === null) {
      fail(LiveErrorCode.badCursor, '"since" must be the "cursor" of a readings frame from this feed, unchanged')
      return
    }
    const o = this.#opts
    const db = o.db()
    if (o.resumeMaxAgeS === 0 || db === undefined || c.all || c.machines.size > 0) {
      let why = '"since" is accepted only while the connection holds no subscription (its first subscribe, or after {"unsubscribe": "*"})'
      if (o.resumeMaxAgeS === 0) why = 'resume is off (live.resume_max_age_s = 0)'
      else if (db === undefined) why = 'the database is not connected yet: try again'
      fail(LiveErrorCode.resumeUnavailable, why)
      return
    }
    const machines = sub === ALL ? [] : [...new Set(sub)]
    if (machines.length > o.maxSubscriptionsPerClient) {
      fail(LiveErrorCode.tooManySubscriptions, this.#tooMany())
      return
    }
    this.#setExact(ws, c, true)
    this.#resumes.start(ws, db, cursor, { all: sub === ALL, machines }, {
      closed: () => c.closed,
      fail,
      subscribed: (list) => { this.#subscribed(ws, c, list) },
      join: () => {
        if (sub === ALL) {
          c.all = true
          ws.subscribe(EXACT_ALL)
        } else {
          for (const id of machines) { c.machines.add(id); ws.subscribe(exactTopicOf(id)) }
        }
      },
    })
  }

  /** Closes every client (shutdown). */
  close (): void {
    clearTimeout(this.#sweepTimer)
    this.#throttle.close()
    for (const ws of [...this.#clients]) ws.end(1001, 'server shutting down')
    this.#clients.clear()
    this.#exactClients.clear()
    this.#slow.clear()
    this.#metrics.clients.set(0)
  }
}

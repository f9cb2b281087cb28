/**
 * Responses and errors of the HTTP API. Every answer goes through an Exchange, which
 *   - owns the request's onAborted (uWS allows one per response), so a handler may await freely;
 *   - writes inside res.cork() and never after the client went away;
 *   - records the route pattern, status and duration once (HTTP metrics);
 *   - turns any error into the JSON error shape; a 5xx never carries database text.
 *
 * Error body: {"error":{"code":"<ApiErrorCode>","message":"<for humans>"}}
 */
import type { Logger } from 'pino'
import { ApiErrorCode, apiError } from '../errors.js'
import { sqlstateOf } from '../db/sqlstate.js'
import type { HttpMetrics } from './http-metrics.js'
import type { Uws } from './uws.js'

export { ApiErrorCode }

type Headers = Readonly<Record<string, string>>

/** An API error: a catalogued code (which fixes the status, errors.ts) and a message for humans. */
export class HttpError extends Error {
  readonly status: number
  readonly code: ApiErrorCode
  readonly headers: Headers

  constructor (code: ApiErrorCode, message: string, headers: Headers = {}) {
    super(message)
    this.name = 'HttpError'
    this.code = code
    this.status = apiError(code).status
    this.headers = headers
  }
}

export const badParam = (message: string): HttpError => new HttpError(ApiErrorCode.invalidParameter, message)

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK',
  201: '201 Created',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  426: '426 Upgrade Required',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
}

/** The HTTP status line uWS writes for a status, e.g. '404 Not Found'. */
export const statusLine = (status: number): string => STATUS_TEXT[status] ?? String(status)

export const JSON_TYPE = 'application/json'

export function errorBody (code: string, message: string): string {
  return JSON.stringify({ error: { code, message } })
}

/** The message of database_read_only: what to change, since retrying the same instance will not help. */
export const READ_ONLY_MESSAGE = 'the API database is read-only (database.api_url points at a replica): writes need the primary; ' +
  'send them to an instance without database.api_url, or write to the primary directly'

/**
 * Maps a thrown value to an HttpError. Database failures become 503: database_unavailable
 * (SQLSTATE class 08, 53, 57P0x, 42P01 before migrations, or a socket error), query_timeout
 * (57014) or database_read_only (25006: a write on a hot-standby replica); anything else is 500.
 * The client sees our message only, never the database's.
 */
export function toHttpError (err: unknown): HttpError {
  if (err instanceof HttpError) return err
  const state = sqlstateOf(err)
  if (state === '57014') return new HttpError(ApiErrorCode.queryTimeout, 'the query took longer than database.statement_timeout_ms; narrow the time range')
  if (state === '25006') return new HttpError(ApiErrorCode.databaseReadOnly, READ_ONLY_MESSAGE)
  // 42P01 (no such table): the API answered before start-up's migrations ran.
  if (state === '42P01') return new HttpError(ApiErrorCode.databaseUnavailable, 'the service is starting; retry later')
  if (state === undefined || state.startsWith('08') || state.startsWith('53') || state.startsWith('57P')) {
    if (state !== undefined || isConnectionError(err)) return new HttpError(ApiErrorCode.databaseUnavailable, 'the database is unavailable; retry later')
  }
  return new HttpError(ApiErrorCode.internal, 'internal error')
}

function isConnectionError (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true // ECONNREFUSED, ECONNRESET, …
  const msg = err instanceof Error ? err.message : ''
  // node-postgres raises these without a code when the pool cannot connect or a socket dies.
  return /timeout exceeded when trying to connect|Connection terminated|connection (?:error|refused)/i.test(msg)
}

export interface ExchangeInit {
  readonly route: string
  readonly method: string
  readonly params: readonly string[]
  readonly query: string
  readonly header: (name: string) => string
}

/** One request/response pair; see the file header. */
export class Exchange {
  readonly route: string
  readonly method: string
  /** Route parameters, percent-decoded (a malformed escape is a 400 raised by param()). */
  readonly #params: readonly string[]
  readonly query: URLSearchParams
  readonly #res: Uws.HttpResponse
  readonly #metrics: HttpMetrics
  readonly #log: Logger
  readonly #started = process.hrtime.bigint()
  readonly #onAbort: Array<() => void> = []
  #aborted = false
  /** An answer was started (status line written or about to be). */
  #done = false
  #recorded = false
  /** Headers that were read synchronously before the first await (uWS: req is stack-allocated). */
  readonly headers: { readonly contentType: string, readonly contentLength: string, readonly authorization: string, readonly host: string }

  constructor (res: Uws.HttpResponse, init: ExchangeInit, metrics: HttpMetrics, log: Logger) {
    this.#res = res
    this.route = init.route
    this.method = init.method
    this.#params = init.params
    this.query = new URLSearchParams(init.query)
    this.headers = {
      contentType: init.header('content-type'),
      contentLength: init.header('content-length'),
      authorization: init.header('authorization'),
      host: init.header('host'),
    }
    this.#metrics = metrics
    this.#log = log
    res.onAborted(() => {
      this.#aborted = true
      this.#finish('aborted')
      for (const cb of this.#onAbort.splice(0)) cb()
    })
  }

  get aborted (): boolean { return this.#aborted }
  get res (): Uws.HttpResponse { return this.#res }
  get log (): Logger { return this.#log }

  param (i: number, name: string): string {
    const raw = this.#params[i] ?? ''
    try {
      return decodeURIComponent(raw)
    } catch {
      throw badParam(`path parameter ${name} is not valid percent-encoded UTF-8`)
    }
  }

  onAbort (cb: () => void): void {
    if (this.#aborted) cb()
    else this.#onAbort.push(cb)
  }

  /** Sends a complete response (corked). No-op after an abort or a previous answer. */
  send (status: number, body: string | Uint8Array, contentType = JSON_TYPE, headers: Readonly<Record<string, string>> = {}): void {
    if (this.#aborted || this.#done) return
    this.#done = true
    const closeConnection = headers.Connection === 'close'
    this.#res.cork(() => {
      this.#res.writeStatus(statusLine(status)).writeHeader('Content-Type', contentType)
      for (const [k, v] of Object.entries(headers)) if (k !== 'Connection') this.#res.writeHeader(k, v)
      this.#res.end(body, closeConnection)
    })
    this.#finish(String(status))
  }

  json (status: number, value: unknown): void {
    this.send(status, JSON.stringify(value))
  }

  fail (err: unknown): void {
    const e = toHttpError(err)
    if (e.status >= 500) this.#log.warn({ err, route: this.route, code: e.code }, 'request failed')
    this.send(e.status, errorBody(e.code, e.message), JSON_TYPE, e.headers)
  }

  /**
   * Streams a 200 response from chunks with backpressure, in slices of at most STREAM_SLICE_MS of
   * event-loop time. A pump writes chunks until write() reports backpressure (onWritable resumes
   * it once uWS drained its buffer) or its slice is used up (setImmediate resumes it, after
   * whatever else waits: other requests, ingest). The onWritable handler, registered once, returns
   * false until the end so uWS keeps it: a handler registered later, from a promise continuation,
   * can be dropped by uWS when the callback that resolved it returns true (observed: the stream
   * stalled after ~4 MB). Memory per request: one chunk being serialized plus what uWS buffered.
   */
  stream (chunks: Iterator<string | Uint8Array>, headers: Readonly<Record<string, string>> = {}): Promise<void> {
    if (this.#aborted || this.#done) return Promise.resolve()
    this.#done = true
    const res = this.#res
    return new Promise<void>((resolve) => {
      this.onAbort(resolve)
      let finished = false
      let resumeQueued = false
      const resume = (): void => {
        resumeQueued = false
        if (finished || this.#aborted) return
        res.cork(() => { pump() })
      }
      /** true when finished (all written, the client left, or a chunk failed: connection closed) */
      const pump = (): boolean => {
        if (finished || this.#aborted) return true
        const until = performance.now() + STREAM_SLICE_MS
        try {
          for (;;) {
            if (this.#aborted) return true
            if (performance.now() >= until) {
              if (!resumeQueued) { resumeQueued = true; setImmediate(resume) }
              return false
            }
            const next = chunks.next()
            if (next.done === true) {
              finished = true
              res.end()
              this.#finish('200')
              resolve()
              return true
            }
            if (!res.write(next.value)) return false
          }
        } catch (err) {
          // Headers are out: the only honest signal left is a cut connection (no terminating chunk).
          finished = true
          this.#log.error({ err, route: this.route }, 'streamed response failed')
          this.#finish('500')
          res.close()
          resolve()
          return true
        }
      }
      res.cork(() => {
        res.writeStatus(statusLine(200)).writeHeader('Content-Type', JSON_TYPE)
        for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v)
        if (!pump()) res.onWritable(() => pump())
      })
    })
  }

  /** Records the outcome once: the status sent, or 'aborted' when the client left first. */
  #finish (status: string): void {
    if (this.#recorded) return
    this.#recorded = true
    const seconds = Number(process.hrtime.bigint() - this.#started) / 1e9
    this.#metrics.requests.inc({ route: this.route, method: this.method, status })
    this.#metrics.duration.observe({ route: this.route, method: this.method }, seconds)
  }
}

/**
 * Reads a request body of at most maxBytes. Call it before the handler's first await (it
 * registers onData). Chunks are copied: uWS reuses the ArrayBuffer after the callback.
 * Over the limit: rejects with 413 and the response closes the connection (the rest of the body
 * is never read).
 */
export function readBody (ex: Exchange, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    let size = 0
    let over = false
    ex.onAbort(() => reject(new HttpError(ApiErrorCode.invalidJson, 'request aborted')))
    ex.res.onData((chunk, isLast) => {
      if (over) return
      size += chunk.byteLength
      if (size > maxBytes) {
        over = true
        reject(tooLarge(maxBytes))
        return
      }
      parts.push(Buffer.from(chunk.slice(0)))
      if (isLast) resolve(Buffer.concat(parts, size))
    })
  })
}

export function tooLarge (maxBytes: number): HttpError {
  return new HttpError(ApiErrorCode.payloadTooLarge, `request body exceeds ${maxBytes} bytes`, { Connection: 'close' })
}

/** Streamed pages are cut into chunks of about this many characters. */
const CHUNK_CHARS = 64 * 1024
/**
 * Event-loop time one streamed response takes before it yields (setImmediate). One 64 K chunk of
 * fleet rows serializes in well under a millisecond here, so a slice writes a few chunks.
 */
export const STREAM_SLICE_MS = 4

function * chunked<R> (head: string, rows: readonly R[], one: (r: R) => string): Generator<string> {
  let out = head + '['
  for (let i = 0; i < rows.length; i++) {
    out += (i === 0 ? '' : ',') + one(rows[i] as R)
    if (out.length >= CHUNK_CHARS) { yield out; out = '' }
  }
  yield out + ']}'
}

/**
 * Sends `head` + a JSON array of rows + '}' (head ends with `"data":`). A page that fits in one
 * chunk goes out in one end(); a larger one is streamed with backpressure (Exchange.stream),
 * serialized chunk by chunk as the socket takes it, never as one string.
 */
export async function sendRows<R> (ex: Exchange, head: string, rows: readonly R[], one: (r: R) => string): Promise<void> {
  const chunks = chunked(head, rows, one)
  const first = chunks.next().value ?? ''
  const second = chunks.next()
  if (second.done === true) {
    ex.send(200, first)
    return
  }
  await ex.stream((function * () {
    yield first
    yield second.value
    yield * chunks
  })())
}

/** Bytes of a response body per streamed chunk (sendParts); for 2.9 MB window pages 256 KB cost less CPU than 64 KB. */
const CHUNK_BYTES = 256 * 1024

function * sliced (parts: ReadonlyArray<string | Buffer>): Generator<string | Uint8Array> {
  for (const p of parts) {
    if (typeof p === 'string') yield p
    else for (let i = 0; i < p.length; i += CHUNK_BYTES) yield p.subarray(i, i + CHUNK_BYTES)
  }
}

/**
 * Sends a 200 response whose body is `parts` in order (text and bytes already encoded): one end()
 * when it fits a chunk, else streamed in chunks with backpressure (Exchange.stream).
 */
export async function sendParts (ex: Exchange, parts: ReadonlyArray<string | Buffer>, headers: Readonly<Record<string, string>> = {}): Promise<void> {
  let bytes = 0
  for (const p of parts) bytes += typeof p === 'string' ? Buffer.byteLength(p) : p.length
  if (bytes <= CHUNK_BYTES) {
    ex.send(200, Buffer.concat(parts.map((p) => typeof p === 'string' ? Buffer.from(p) : p), bytes), JSON_TYPE, headers)
    return
  }
  await ex.stream(sliced(parts), headers)
}

/**
 * The closed catalogue of error codes: the one place a code is named, classed and explained.
 * Callers branch on `code`, never on message text. Four families:
 *
 *   REJECTS      why one message became a dead letter (rejected_messages.reason). All permanent:
 *                redelivering the same bytes gives the same answer, so these messages are termed.
 *   API_ERRORS   the `error.code` of every HTTP error body, with its status; transient = the same
 *                request may succeed later (503), permanent = it will not (4xx, 500).
 *   LIVE_ERRORS  `{"type":"error","code"}` frames of the live feed (a WebSocket, no status).
 *   SERVICE_ERRORS  failures of the service itself (start-up gave up); permanent ones stop it: exit 2.
 *
 * Every code here is used somewhere (test/unit/errors.test.ts checks it); the OpenAPI document
 * lists REJECTS and API_ERRORS from these tables (api/openapi-errors.ts), so a new code is one line
 * here plus its throw site.
 */

interface Entry { readonly code: string, readonly meaning: string }
export interface ApiErrorEntry extends Entry {
  readonly status: number
  readonly transient: boolean
  /** Answered only to a live-feed upgrade (GET /api/v1/live), never by an HTTP operation. */
  readonly liveOnly?: true
}
export interface ServiceErrorEntry extends Entry { readonly transient: boolean }
/** closes: the server ends the WebSocket after this frame (the client reconnects); otherwise it stays open. */
export interface LiveErrorEntry extends Entry { readonly closes: boolean }

/** { key: entry.code } for each entry: the names throw sites use. */
function codes<T extends Record<string, Entry>> (table: T): { readonly [K in keyof T]: T[K]['code'] } {
  return Object.freeze(Object.fromEntries(Object.entries(table).map(([k, e]) => [k, e.code]))) as { readonly [K in keyof T]: T[K]['code'] }
}

export const REJECTS = {
  payloadTooLarge: { code: 'payload_too_large', meaning: 'Payload larger than nats.max_payload_bytes' },
  invalidUtf8: { code: 'invalid_utf8', meaning: 'Payload bytes are not valid UTF-8' },
  invalidJson: { code: 'invalid_json', meaning: 'Payload is not JSON' },
  invalidUnicode: { code: 'invalid_unicode', meaning: 'A JSON string (value or key) holds a lone surrogate escape such as \\ud800: not Unicode text' },
  tooDeep: { code: 'too_deep', meaning: 'JSON nested deeper than the decoder walks (the message contract is flat)' },
  decodeFailed: { code: 'decode_failed', meaning: 'The decoder itself failed on this message (a bug, not a transient state); detail has the error' },
  schema: { code: 'schema', meaning: 'JSON that breaks the message contract (type, required field, length, range); detail names the field' },
  badTimestamp: { code: 'bad_timestamp', meaning: 'timestamp is not RFC 3339 with an offset, or names a day that does not exist' },
  unstorable: { code: 'unstorable_value', meaning: 'A value JSON can carry but PostgreSQL cannot store (NUL in text, non-finite number)' },
  dbRejected: { code: 'db_rejected', meaning: 'PostgreSQL itself refused the row (data exception or constraint); detail holds the SQLSTATE' },
  maxDeliveries: { code: 'max_deliveries', meaning: 'JetStream gave the message up after nats.max_deliver deliveries' },
} as const satisfies Record<string, Entry>
export const RejectCode = codes(REJECTS)
export type RejectCode = typeof RejectCode[keyof typeof RejectCode]

const e400 = { status: 400, transient: false } as const
const e503 = { status: 503, transient: true } as const
export const API_ERRORS = {
  invalidParameter: { code: 'invalid_parameter', ...e400, meaning: 'A path or query parameter is invalid; the message names it and shows the expected form' },
  invalidCursor: { code: 'invalid_cursor', ...e400, meaning: 'cursor is not one this API returned' },
  invalidJson: { code: 'invalid_json', ...e400, meaning: 'The request body is not JSON' },
  validationFailed: { code: 'validation_failed', ...e400, meaning: 'The body breaks its schema; the message names the field' },
  rangeTooLarge: { code: 'range_too_large', ...e400, meaning: 'The time window is longer than the route allows' },
  unauthorized: { code: 'unauthorized', status: 401, transient: false, meaning: 'http.auth_token is set and the bearer token is missing or wrong' },
  hostNotAllowed: { code: 'host_not_allowed', status: 403, transient: false, meaning: 'No http.auth_token and the Host is not loopback, http.host or in http.allowed_hosts (DNS rebinding guard)' },
  originNotAllowed: { code: 'origin_not_allowed', status: 403, transient: false, liveOnly: true, meaning: 'Live-feed upgrade from an Origin that is neither the same origin nor in http.allowed_origins' },
  notFound: { code: 'not_found', status: 404, transient: false, meaning: 'No such route, or no such resource' },
  methodNotAllowed: { code: 'method_not_allowed', status: 405, transient: false, meaning: 'The route exists for other methods (see Allow)' },
  conflict: { code: 'conflict', status: 409, transient: false, meaning: 'A resource with this id exists' },
  payloadTooLarge: { code: 'payload_too_large', status: 413, transient: false, meaning: 'The request body is over the limit (the connection is closed)' },
  unsupportedMediaType: { code: 'unsupported_media_type', status: 415, transient: false, meaning: 'Content-Type is not one read as JSON' },
  upgradeRequired: { code: 'upgrade_required', status: 426, transient: false, liveOnly: true, meaning: 'A plain HTTP request to the WebSocket live feed' },
  internal: { code: 'internal', status: 500, transient: false, meaning: 'Internal error (never carries database text)' },
  databaseUnavailable: { code: 'database_unavailable', ...e503, meaning: 'The database did not answer (or the service is starting)' },
  databaseReadOnly: { code: 'database_read_only', ...e503, meaning: 'A write reached a read-only database (database.api_url on a replica): writes need the primary' },
  queryTimeout: { code: 'query_timeout', ...e503, meaning: 'The query ran longer than database.statement_timeout_ms' },
  apiBusy: { code: 'api_busy', ...e503, meaning: 'No API database connection came free within http.db_wait_ms (with Retry-After)' },
  liveFeedFull: { code: 'live_feed_full', ...e503, liveOnly: true, meaning: 'live.max_clients live-feed clients are connected (with Retry-After)' },
} as const satisfies Record<string, ApiErrorEntry>
export const ApiErrorCode = codes(API_ERRORS)
export type ApiErrorCode = typeof ApiErrorCode[keyof typeof ApiErrorCode]

const API_BY_CODE: ReadonlyMap<string, ApiErrorEntry> = new Map(Object.values(API_ERRORS).map((e) => [e.code, e]))
/** The catalogue entry of an API error code. */
export const apiError = (code: ApiErrorCode): ApiErrorEntry => API_BY_CODE.get(code) as ApiErrorEntry

export const LIVE_ERRORS = {
  invalidMessage: { closes: false, code: 'invalid_message', meaning: 'A client frame that is not {"subscribe"|"unsubscribe": "*" or a list of machine ids} (with "exact": true|false or "since" on a subscribe), or that asks to switch "exact" while the connection holds subscriptions' },
  tooManySubscriptions: { closes: false, code: 'too_many_subscriptions', meaning: 'More machines than live.max_subscriptions_per_client' },
  badCursor: { closes: false, code: 'bad_cursor', meaning: '"since" is not a cursor this server sends (copy it from a readings frame, unchanged)' },
  resumeTooOld: { closes: false, code: 'resume_too_old', meaning: 'The cursor\'s commit is older than live.resume_max_age_s (or unknown to this database): page through GET /api/v1/machines/{id}/data instead' },
  resumeUnavailable: { closes: false, code: 'resume_unavailable', meaning: 'No resume here: live.resume_max_age_s is 0, the database is not reachable, or the connection already holds a subscription' },
  resumeOverflow: { closes: true, code: 'resume_overflow', meaning: 'Live readings arrived faster than the replay could catch up (more than live.max_buffered_bytes held): the client is disconnected; resume again from its last cursor' },
} as const satisfies Record<string, LiveErrorEntry>
export const LiveErrorCode = codes(LIVE_ERRORS)
export type LiveErrorCode = typeof LiveErrorCode[keyof typeof LiveErrorCode]

export const SERVICE_ERRORS = {
  configInvalid: { code: 'CONFIG_INVALID', transient: false, meaning: 'The configuration breaks its schema (one line names the key)' },
  dbUnavailable: { code: 'DB_UNAVAILABLE', transient: false, meaning: 'PostgreSQL refused us or did not answer within startup.wait_ms' },
  natsUnavailable: { code: 'NATS_UNAVAILABLE', transient: false, meaning: 'NATS refused us or did not answer within startup.wait_ms' },
  uwsFallback: { code: 'UWS_NATIVE_MISSING', transient: false, meaning: 'The uWebSockets.js native module does not load on this platform' },
  httpListenFailed: { code: 'HTTP_LISTEN_FAILED', transient: false, meaning: 'http.host:http.port is held by another process (or not permitted)' },
} as const satisfies Record<string, ServiceErrorEntry>
export const ErrorCode = codes(SERVICE_ERRORS)
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode]

const SERVICE_BY_CODE: ReadonlyMap<string, ServiceErrorEntry> = new Map(Object.values(SERVICE_ERRORS).map((e) => [e.code, e]))

/** A failure of the service itself; `transient` comes from the catalogue. */
export class ServiceError extends Error {
  readonly code: ErrorCode
  readonly transient: boolean

  constructor (code: ErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'ServiceError'
    this.code = code
    this.transient = (SERVICE_BY_CODE.get(code) as ServiceErrorEntry).transient
  }
}

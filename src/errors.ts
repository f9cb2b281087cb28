/**
 * The closed catalogue of error and rejection codes. Callers branch on `code`, never on message text.
 *
 * RejectCode: why one message became a dead letter (stored in rejected_messages.reason). Permanent:
 * redelivering the same bytes gives the same answer, so these messages are termed.
 * ServiceError codes: failures of the service itself, classed transient (retry later: nak with delay,
 * reconnect) or permanent (stop start-up, or refuse the request).
 */
export const RejectCode = {
  /** Payload larger than nats.max_payload_bytes. */
  payloadTooLarge: 'payload_too_large',
  /** Payload bytes are not valid UTF-8. */
  invalidUtf8: 'invalid_utf8',
  /** Payload is not JSON. */
  invalidJson: 'invalid_json',
  /** A JSON string (value or key) holds a lone surrogate escape such as `\ud800`: not Unicode text. */
  invalidUnicode: 'invalid_unicode',
  /** JSON nested deeper than the decoder walks (the contract is flat; see decode-batch.ts). */
  tooDeep: 'too_deep',
  /** The decoder itself failed on this message (a bug, not a transient state); detail has the error. */
  decodeFailed: 'decode_failed',
  /** JSON that breaks the message contract (type, required field, length, range); detail names the field. */
  schema: 'schema',
  /** `timestamp` is not RFC 3339 with an offset, or names a day that does not exist. */
  badTimestamp: 'bad_timestamp',
  /** A value valid JSON can carry but PostgreSQL cannot store (NUL in text, non-finite number). */
  unstorable: 'unstorable_value',
  /** PostgreSQL itself refused the row (data exception or constraint); detail holds the SQLSTATE. */
  dbRejected: 'db_rejected',
  /** JetStream gave the message up after nats.max_deliver deliveries (see ack/max-deliveries.ts). */
  maxDeliveries: 'max_deliveries',
} as const
export type RejectCode = typeof RejectCode[keyof typeof RejectCode]

export const ErrorCode = {
  configInvalid: 'CONFIG_INVALID',
  dbUnavailable: 'DB_UNAVAILABLE',
  dbFailed: 'DB_FAILED',
  natsUnavailable: 'NATS_UNAVAILABLE',
  uwsFallback: 'UWS_NATIVE_MISSING',
  shutdownTimeout: 'SHUTDOWN_TIMEOUT',
  /** http.host:http.port is held by another process (or not permitted). */
  httpListenFailed: 'HTTP_LISTEN_FAILED',
} as const
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode]

export class ServiceError extends Error {
  readonly code: ErrorCode
  readonly transient: boolean

  constructor (code: ErrorCode, message: string, opts: { transient: boolean, cause?: unknown }) {
    super(message, { cause: opts.cause })
    this.name = 'ServiceError'
    this.code = code
    this.transient = opts.transient
  }
}

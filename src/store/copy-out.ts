/**
 * `COPY … TO STDOUT` whose data is handed on as it arrives, as a pg Submittable. PostgreSQL sends
 * one CopyData message per row; here each socket chunk's messages are unframed in place (the rows'
 * bytes moved over the 5-byte headers) and handed on in one call per chunk. pg-copy-streams' copy-to
 * slices, queues and joins every message, which cost the event loop about 3 ms per 10,000-row
 * page (bench/RESULTS.md, issue 16); the writer's COPY FROM keeps using pg-copy-streams.
 *
 * Like pg-copy-streams it takes the connection's socket from pg's protocol parser for the length of
 * the COPY: from submit() until CopyDone (or an ErrorResponse), then gives pg the bytes that follow,
 * so pg ends the query as any other (CommandComplete, ReadyForQuery; an error through handleError).
 * Messages PostgreSQL may interleave (notices, parameter changes, notifications) are skipped; any
 * other (ErrorResponse, or what a statement that is no COPY TO sends) gives the socket back at once.
 *
 *   await client.query(new CopyOut(sql, (bytes) => …)).result
 */
import type { EventEmitter } from 'node:events'
import type pg from 'pg'

const COPY_DATA = 0x64 // 'd'
const COPY_DONE = 0x63 // 'c'
/** CopyOutResponse 'H', NoticeResponse 'N', ParameterStatus 'S', NotificationResponse 'A': skipped. */
const SKIPPED = new Set([0x48, 0x4e, 0x53, 0x41])

type DataHandler = (chunk: Buffer) => void

export class CopyOut implements pg.Submittable {
  readonly text: string
  /** Settles when pg has ended the query: rejected with its error, if any. */
  readonly result: Promise<void>
  readonly #onData: (bytes: Buffer) => void
  #resolve!: () => void
  #reject!: (e: Error) => void
  #stream: EventEmitter | undefined
  #pgHandler: DataHandler | undefined
  /** An incomplete message from the last chunk. */
  #rest: Buffer | undefined
  #failed = false

  /** `onData` gets the COPY's bytes (CopyData payloads, concatenated, in order) chunk by chunk; it may throw (the query then fails). */
  constructor (text: string, onData: (bytes: Buffer) => void) {
    this.text = text
    this.#onData = onData
    this.result = new Promise<void>((resolve, reject) => { this.#resolve = resolve; this.#reject = reject })
    // Until the caller awaits it, a failure must not count as unhandled.
    this.result.catch(() => {})
  }

  submit (connection: pg.Connection): void {
    const stream = (connection as unknown as { stream: EventEmitter }).stream
    const handlers = stream.listeners('data')
    if (handlers.length !== 1) throw new Error(`CopyOut: the connection's socket has ${handlers.length} data listeners, expected pg's one`)
    this.#pgHandler = handlers[0] as DataHandler
    this.#stream = stream
    stream.removeListener('data', this.#pgHandler)
    stream.on('data', this.#receive)
    ;(connection as unknown as { query: (text: string) => void }).query(this.text)
  }

  readonly #receive = (chunk: Buffer): void => {
    const b = this.#rest === undefined ? chunk : Buffer.concat([this.#rest, chunk])
    this.#rest = undefined
    const n = b.length
    let i = 0
    let w = 0
    let after: number | undefined
    while (i + 5 <= n) {
      const code = b[i] as number
      if (code !== COPY_DATA && code !== COPY_DONE && !SKIPPED.has(code)) { after = i; break }
      const end = i + 1 + b.readInt32BE(i + 1)
      if (end > n) break
      if (code === COPY_DATA) {
        b.copyWithin(w, i + 5, end)
        w += end - i - 5
      } else if (code === COPY_DONE) {
        after = end
        break
      }
      i = end
    }
    if (after === undefined && i < n) this.#rest = b.subarray(i)
    if (w > 0 && !this.#failed) {
      try {
        this.#onData(b.subarray(0, w))
      } catch (err) {
        // The rest of the COPY is still read (and dropped) so that the connection stays in step.
        this.#fail(err instanceof Error ? err : new Error(String(err)))
      }
    }
    if (after !== undefined) this.#detach(b.subarray(after))
  }

  /** Gives the socket back to pg's parser, with the bytes it has not seen. */
  #detach (unread: Buffer): void {
    const stream = this.#stream
    const pgHandler = this.#pgHandler
    if (stream === undefined || pgHandler === undefined) return
    this.#stream = undefined
    stream.removeListener('data', this.#receive)
    stream.on('data', pgHandler)
    if (unread.length > 0) pgHandler(unread)
  }

  #fail (err: Error): void {
    if (this.#failed) return
    this.#failed = true
    this.#reject(err)
  }

  handleError (err: Error): void {
    this.#detach(Buffer.alloc(0))
    this.#fail(err)
  }

  handleReadyForQuery (): void {
    if (!this.#failed) this.#resolve()
  }

  handleCommandComplete (): void {}
  handleRowDescription (): void { this.#fail(new Error('CopyOut: a statement that returns rows, not COPY TO STDOUT')) }
  handleDataRow (): void {}
  handleEmptyQuery (): void { this.#fail(new Error('CopyOut: an empty statement')) }
  handlePortalSuspended (): void {}
  handleCopyInResponse (connection: pg.Connection): void {
    this.#fail(new Error('CopyOut: COPY FROM, not COPY TO STDOUT'))
    ;(connection as unknown as { sendCopyFail: (why: string) => void }).sendCopyFail('CopyOut reads only')
  }
}

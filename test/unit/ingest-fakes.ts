/**
 * Fakes for unit tests of the ingest hand-off: a connection with the few NatsConnection members the
 * source and the settler use, an admission the test drives by hand, and builders of batches.
 */
import { headers, type Payload, type PublishOptions } from '@nats-io/transport-node'
import { pino } from 'pino'
import type { ParsedBatch, RawBatch } from '../../src/contracts.js'
import type { Admission } from '../../src/ingest/admission.js'
import type { IngestBatch } from '../../src/ingest/batch-builder.js'
import type { SourceConnection, SourceMsg } from '../../src/ingest/pull-source.js'

export const quiet = pino({ level: 'silent' })
const dec = new TextDecoder()
const enc = new TextEncoder()

export interface Published { readonly subject: string, readonly data: string, readonly reply: string | undefined }

export class FakeConnection implements SourceConnection {
  readonly info = { max_payload: 1_048_576 }
  readonly published: Published[] = []
  readonly unsubscribed: string[] = []
  readonly #subs = new Map<string, (err: Error | null, m: SourceMsg) => void>()

  publish (subject: string, payload?: Payload, options?: PublishOptions): void {
    this.published.push({ subject, data: typeof payload === 'string' ? payload : dec.decode(payload ?? new Uint8Array(0)), reply: options?.reply })
  }

  subscribe (subject: string, opts: { callback: (err: Error | null, m: SourceMsg) => void }): { unsubscribe (): void } {
    this.#subs.set(subject, opts.callback)
    return { unsubscribe: () => { this.#subs.delete(subject); this.unsubscribed.push(subject) } }
  }

  /** The pull requests sent so far, parsed. */
  pulls (): Array<{ batch: number, max_bytes: number, reply: string | undefined }> {
    return this.published.filter((p) => p.subject.startsWith('$JS.API.CONSUMER.MSG.NEXT.')).map((p) => ({ ...JSON.parse(p.data) as { batch: number, max_bytes: number }, reply: p.reply }))
  }

  /** Delivers JetStream message `seq` (payload `data`) to the inbox the pulls named. */
  deliver (seq: number, data = `{"n":${seq}}`, delivered = 1): void {
    this.#inboxCallback()(null, { subject: 'CNC.x', reply: ackReply(seq, delivered), data: enc.encode(data), headers: undefined })
  }

  /** A status message on the inbox (408 request expired, 409 consumer deleted, …). */
  status (code: number, description: string, pending?: { messages: number, bytes: number }): void {
    const h = headers(code, description)
    if (pending !== undefined) {
      h.set('Nats-Pending-Messages', String(pending.messages))
      h.set('Nats-Pending-Bytes', String(pending.bytes))
    }
    this.#inboxCallback()(null, { subject: 'inbox', reply: '', data: new Uint8Array(0), headers: h })
  }

  #inboxCallback (): (err: Error | null, m: SourceMsg) => void {
    const inbox = this.published.find((p) => p.reply !== undefined)?.reply
    const cb = inbox === undefined ? undefined : this.#subs.get(inbox)
    if (cb === undefined) throw new Error('no pull request names a subscribed inbox')
    return cb
  }
}

export const ackReply = (seq: number, delivered = 1, pending = 0): string => `$JS.ACK.S.C.${delivered}.${seq}.${seq}.1700000000000000000.${pending}`

/** An admission the test moves by hand: grant and ready are plain fields. */
export class FakeAdmission implements Admission {
  readonly grant = { messages: Infinity, bytes: Infinity }
  isReady = true
  wake: () => void = () => {}
  readonly ready = (): boolean => this.isReady
  onGrant (wake: () => void): void { this.wake = wake }
}

/** A batch of `n` one-row messages with sequences from `firstSeq`. */
export function ingestBatch (n: number, firstSeq = 1): IngestBatch {
  const bytes = new Uint8Array(n * 4).fill(0x61)
  const offsets = Uint32Array.from({ length: n + 1 }, (_, i) => i * 4)
  return {
    replies: Array.from({ length: n }, (_, i) => ackReply(firstSeq + i)),
    subjects: Array.from({ length: n }, () => 'CNC.x'),
    raw: { bytes, offsets, count: n, maxPayloadBytes: 65_536 },
    streamSeq: Float64Array.from({ length: n }, (_, i) => firstSeq + i),
    redelivered: 0,
    maxDelivered: 1,
    pendingAfter: 0,
    receivedAt: Date.now(),
  }
}

/** What a parser worker would answer for `raw`: one row per message, none refused. */
export function parsedOf (raw: RawBatch): ParsedBatch {
  const n = raw.count
  return {
    copy: new Uint8Array(n * 2),
    rowEnds: Uint32Array.from({ length: n }, (_, i) => (i + 1) * 2),
    rowMessage: Uint32Array.from({ length: n }, (_, i) => i),
    rowSpan: Uint32Array.from({ length: 2 * n }, (_, i) => (i >> 1) * 4 + (i & 1) * 4),
    rowTimeMs: new Float64Array(n).fill(Date.now()),
    rowMachine: new Uint32Array(n),
    machines: ['M1'],
    rejections: [],
    bytes: raw.bytes,
    offsets: raw.offsets,
  }
}

/** Polls `probe` until true; fails naming `what` after `timeoutMs`. */
export async function until (what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

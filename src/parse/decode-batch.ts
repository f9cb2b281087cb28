/**
 * One batch (in a parser worker, or on the ingest thread with parser_threads 0): bytes → UTF-8 check
 * → JSON.parse → Unicode and depth walk → validate → exact timestamp → binary COPY tuple. A bad
 * message is a returned Rejection, never a throw; the same bytes always get the same answer. Should
 * the decoder itself throw on a message (a bug), that message alone becomes `decode_failed` and the
 * encoder is rewound to before it.
 *
 * A payload is one reading object, or a JSON array of them (batched payloads): each element becomes
 * its own row, and an element that fails is a Rejection naming it (`element`, detail `element k: …`)
 * while the others commit. An empty array holds nothing to store and is refused whole (`schema`).
 */
import { isUtf8 } from 'node:buffer'
import { RejectCode } from '../errors.js'
import type { OversizedPayload, ParsedBatch, RawBatch, Rejection } from '../contracts.js'
import { BinaryRowEncoder } from './copy-encoder.js'
import { inspectValue } from './inspect-value.js'
import type { Reading } from './reading-schema.js'
import { validateReading } from './generated/validate-reading.js'
import { parseRfc3339BigMicros, parseRfc3339Micros } from './timestamp.js'
import { asBuffer } from '../bytes.js'

const PG_EPOCH_MS = 946_684_800_000
const BACKSLASH = 0x5c
const BRACKET = 0x5b
const BRACE = 0x7b
const encoder = new BinaryRowEncoder()

export function decodeBatch (raw: RawBatch): ParsedBatch {
  const d = new BatchDecode(raw)
  d.step(Infinity)
  return d.result()
}

/**
 * decodeBatch on the ingest thread (parser_threads 0), in slices of about `sliceBytes` of payload with
 * `pause()` (a turn of the event loop) between them, so a batch of 30,000 array readings never holds
 * the thread (acks, API, live feed) for its whole decode. Callers must not overlap two of these: the
 * encoder is shared (parser-pool.ts runs them one after another).
 */
export async function decodeBatchInSlices (raw: RawBatch, sliceBytes: number, pause: () => Promise<void>): Promise<ParsedBatch> {
  const d = new BatchDecode(raw)
  while (!d.step(sliceBytes)) await pause()
  return d.result()
}

/** One batch's decode, resumable message by message. */
class BatchDecode {
  readonly #raw: RawBatch
  readonly #buf: Buffer
  readonly #out: Rows
  readonly #rejections: Rejection[] = []
  #next = 0
  #nextOver = 0

  constructor (raw: RawBatch) {
    this.#raw = raw
    this.#buf = asBuffer(raw.bytes)
    this.#out = new Rows(raw.count)
    encoder.reset(raw.bytes.byteLength + 1024)
  }

  /** Decodes messages until about `maxBytes` of payload are done; true when the batch is. */
  step (maxBytes: number): boolean {
    const { offsets, count, maxPayloadBytes } = this.#raw
    const oversized = this.#raw.oversized ?? []
    const out = this.#out
    const rejections = this.#rejections
    const until = (offsets[this.#next] as number) + maxBytes
    let i = this.#next
    for (; i < count && (offsets[i] as number) < until; i++) {
      const start = offsets[i] as number
      const end = offsets[i + 1] as number
      const over = oversized[this.#nextOver]
      if (over !== undefined && over.index === i) {
        this.#nextOver++
        rejections.push({ index: i, code: RejectCode.payloadTooLarge, detail: tooLarge(over.length, maxPayloadBytes, over, end - start) })
        continue
      }
      if (end - start > maxPayloadBytes) {
        rejections.push({ index: i, code: RejectCode.payloadTooLarge, detail: tooLarge(end - start, maxPayloadBytes) })
        continue
      }
      const mark = encoder.length
      const rowMark = out.count
      const rejectMark = rejections.length
      try {
        decodeMessage(this.#buf, start, end, i, out, rejections)
      } catch (err) {
        // Not the message's fault as far as we know, but the same bytes would fail again: dead-letter
        // this one message (its bytes are kept) rather than fail the batch forever.
        encoder.rewind(mark)
        out.count = rowMark
        rejections.length = rejectMark
        rejections.push({ index: i, code: RejectCode.decodeFailed, detail: `the decoder failed: ${errorText(err)}` })
      }
    }
    this.#next = i
    return i >= count
  }

  result (): ParsedBatch {
    const out = this.#out
    const rows = out.count
    return {
      copy: encoder.take(),
      rowEnds: out.rowEnds.subarray(0, rows),
      rowMessage: out.rowMessage.subarray(0, rows),
      rowSpan: out.rowSpan.subarray(0, 2 * rows),
      rowTimeMs: out.rowTimeMs.subarray(0, rows),
      rowMachine: out.rowMachine.subarray(0, rows),
      machines: out.machines,
      rejections: this.#rejections,
      bytes: this.#raw.bytes,
      offsets: this.#raw.offsets,
    }
  }
}

/** The rows of one batch as they are decoded; grows past the message count for array payloads. */
class Rows {
  count = 0
  rowEnds: Uint32Array
  rowMessage: Uint32Array
  rowSpan: Uint32Array
  rowTimeMs: Float64Array
  rowMachine: Uint32Array
  readonly machines: string[] = []
  readonly #machineIndex = new Map<string, number>()

  constructor (capacity: number) {
    const n = Math.max(1, capacity)
    this.rowEnds = new Uint32Array(n)
    this.rowMessage = new Uint32Array(n)
    this.rowSpan = new Uint32Array(2 * n)
    this.rowTimeMs = new Float64Array(n)
    this.rowMachine = new Uint32Array(n)
  }

  add (message: number, spanStart: number, spanEnd: number, machineId: string, micros: number): void {
    const r = this.count
    if (r === this.rowEnds.length) this.#grow()
    this.rowEnds[r] = encoder.length
    this.rowMessage[r] = message
    this.rowSpan[2 * r] = spanStart
    this.rowSpan[2 * r + 1] = spanEnd
    this.rowTimeMs[r] = micros / 1000 + PG_EPOCH_MS
    let m = this.#machineIndex.get(machineId)
    if (m === undefined) {
      m = this.machines.length
      this.machines.push(machineId)
      this.#machineIndex.set(machineId, m)
    }
    this.rowMachine[r] = m
    this.count = r + 1
  }

  #grow (): void {
    const n = this.rowEnds.length * 2
    const grow = <T extends Uint32Array | Float64Array>(a: T, size: number, make: (k: number) => T): T => { const b = make(size); b.set(a); return b }
    this.rowEnds = grow(this.rowEnds, n, (k) => new Uint32Array(k))
    this.rowMessage = grow(this.rowMessage, n, (k) => new Uint32Array(k))
    this.rowSpan = grow(this.rowSpan, 2 * n, (k) => new Uint32Array(k))
    this.rowTimeMs = grow(this.rowTimeMs, n, (k) => new Float64Array(k))
    this.rowMachine = grow(this.rowMachine, n, (k) => new Uint32Array(k))
  }
}

/** Message i: its rows added to `out` (one, or one per array element), its rejections pushed. */
function decodeMessage (buf: Buffer, start: number, end: number, i: number, out: Rows, rejections: Rejection[]): void {
  const view = buf.subarray(start, end)
  if (!isUtf8(view)) {
    rejections.push({ index: i, code: RejectCode.invalidUtf8, detail: 'payload is not valid UTF-8' })
    return
  }
  let value: unknown
  try {
    value = JSON.parse(buf.toString('utf8', start, end))
  } catch (err) {
    rejections.push({ index: i, code: RejectCode.invalidJson, detail: errorText(err) })
    return
  }
  if (!Array.isArray(value)) {
    decodeReading(buf, start, end, value, i, undefined, out, rejections)
    return
  }
  if (value.length === 0) {
    rejections.push({ index: i, code: RejectCode.schema, detail: 'message: an array must hold at least one reading' })
    return
  }
  const spans = arrayElementSpans(buf, start, end)
  if (spans.length !== 2 * value.length) throw new Error(`array of ${value.length} elements scanned as ${spans.length / 2}`)
  for (let k = 0; k < value.length; k++) {
    decodeReading(buf, spans[2 * k] as number, spans[2 * k + 1] as number, value[k], i, k, out, rejections)
  }
}

/**
 * One reading (a whole message, or element `element` of an array message) whose JSON text is
 * buf[start, end): its tuple appended and its row added, or its rejection pushed.
 */
function decodeReading (buf: Buffer, start: number, end: number, value: unknown, i: number, element: number | undefined, out: Rows, rejections: Rejection[]): void {
  const reject = (code: RejectCode, detail: string): void => {
    rejections.push(element === undefined ? { index: i, code, detail } : { index: i, element, code, detail: `element ${element}: ${detail}` })
  }
  // The walk only matters when the bytes hold an escape (the only way to a lone surrogate in valid
  // UTF-8) or nesting; three memchr scans rule both out for a flat reading (the walk for every
  // message measured +3–4 µs each, about +25% of decoding).
  const view = buf.subarray(start, end)
  const odd = view.indexOf(BACKSLASH) === -1 && view.indexOf(BRACKET) === -1 && view.indexOf(BRACE, 1) === -1 ? null : inspectValue(value)
  if (odd !== null) {
    reject(odd.kind === 'unicode' ? RejectCode.invalidUnicode : RejectCode.tooDeep, odd.detail)
    return
  }
  if (!validateReading(value)) {
    reject(RejectCode.schema, describeSchemaError(value))
    return
  }
  const reading = value as Reading
  let micros = parseRfc3339Micros(reading.timestamp)
  let big: bigint | null = null
  if (!Number.isSafeInteger(micros)) {
    big = parseRfc3339BigMicros(reading.timestamp)
    if (big === null) {
      reject(RejectCode.badTimestamp, `timestamp: expected RFC 3339 with an offset, e.g. 2025-07-13T10:00:00.123Z; got ${JSON.stringify(reading.timestamp.slice(0, 40))}`)
      return
    }
    micros = Number(big)
  }
  const problem = encoder.encode(reading, micros, big)
  if (problem !== null) {
    reject(RejectCode.unstorable, problem)
    return
  }
  out.add(i, start, end, reading.machine_id, micros)
}

const QUOTE = 0x22
const COMMA = 0x2c
const CLOSE_BRACKET = 0x5d
const CLOSE_BRACE = 0x7d

/**
 * Byte spans [start, end) of the top-level elements of the JSON array in buf[from, to), as pairs.
 * The text is valid JSON (JSON.parse accepted it), so a scan that tracks strings and nesting suffices.
 */
function arrayElementSpans (buf: Buffer, from: number, to: number): number[] {
  const spans: number[] = []
  let p = buf.indexOf(BRACKET, from)
  if (p < 0 || p >= to) return spans
  let depth = 0
  let elemStart = -1
  let elemEnd = -1
  for (p++; p < to; p++) {
    const c = buf[p] as number
    if (c === QUOTE) {
      if (elemStart < 0) elemStart = p
      for (p++; p < to; p++) {
        const d = buf[p] as number
        if (d === BACKSLASH) p++
        else if (d === QUOTE) break
      }
      elemEnd = p + 1
      continue
    }
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue
    if (depth === 0 && (c === COMMA || c === CLOSE_BRACKET)) {
      if (elemStart >= 0) spans.push(elemStart, elemEnd)
      elemStart = -1
      if (c === CLOSE_BRACKET) break
      continue
    }
    if (elemStart < 0) elemStart = p
    if (c === BRACE || c === BRACKET) depth++
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--
    elemEnd = p + 1
  }
  return spans
}
function tooLarge (length: number, limit: number, over?: OversizedPayload, kept?: number): string {
  const base = `payload is ${length} bytes; the limit (nats.max_payload_bytes) is ${limit}`
  return over === undefined ? base : `${base}; sha256 ${over.sha256}; the dead letter keeps its first ${kept ?? 0} bytes`
}

function errorText (err: unknown): string {
  return String(err instanceof Error ? err.message : err).slice(0, 200)
}

/** ajv's first error as `field: reason`, e.g. `temperature: must be number`, `spindle_speed: is required`. */
function describeSchemaError (value: unknown): string {
  const e = validateReading.errors?.[0]
  if (e === undefined) return 'does not match the message contract'
  if (e.keyword === 'required') return `${String((e.params as { missingProperty: string }).missingProperty)}: is required`
  const field = e.instancePath === '' ? 'message' : e.instancePath.slice(1).replaceAll('/', '.')
  // JSON.parse turns a literal such as 1e999 into Infinity, which ajv's number type refuses.
  const v = e.instancePath === '' ? undefined : (value as Record<string, unknown>)[field]
  if (e.keyword === 'type' && typeof v === 'number' && !Number.isFinite(v)) return `${field}: must be a finite number (the literal overflows a 64-bit float)`
  return `${field}: ${e.message ?? 'is invalid'}`
}

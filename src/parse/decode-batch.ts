/**
 * One batch, inside a parser worker: bytes → UTF-8 check → JSON.parse → Unicode and depth walk →
 * validate → exact timestamp → binary COPY tuple. A bad message is a returned Rejection, never a
 * throw; the same bytes always get the same answer. Should the decoder itself throw on a message
 * (a bug), that message alone becomes `decode_failed` and the encoder is rewound to before it.
 */
import { isUtf8 } from 'node:buffer'
import { RejectCode } from '../errors.js'
import type { OversizedPayload, ParsedBatch, RawBatch, Rejection } from '../contracts.js'
import { BinaryRowEncoder } from './copy-encoder.js'
import { inspectValue } from './inspect-value.js'
import type { Reading } from './reading-schema.js'
import { validateReading } from './generated/validate-reading.js'
import { parseRfc3339BigMicros, parseRfc3339Micros } from './timestamp.js'

const PG_EPOCH_MS = 946_684_800_000
const BACKSLASH = 0x5c
const BRACKET = 0x5b
const BRACE = 0x7b
const encoder = new BinaryRowEncoder()

export function decodeBatch (raw: RawBatch): ParsedBatch {
  const { bytes, offsets, count, maxPayloadBytes } = raw
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const rowEnds = new Uint32Array(count)
  const rowMessage = new Uint32Array(count)
  const rowTimeMs = new Float64Array(count)
  const rowMachine = new Uint16Array(count)
  const machineIndex = new Map<string, number>()
  const machines: string[] = []
  const rejections: Rejection[] = []
  encoder.reset(bytes.byteLength + 1024)
  let rows = 0

  const oversized = raw.oversized ?? []
  let nextOver = 0

  for (let i = 0; i < count; i++) {
    const start = offsets[i] as number
    const end = offsets[i + 1] as number
    const over = oversized[nextOver]
    if (over !== undefined && over.index === i) {
      nextOver++
      rejections.push({ index: i, code: RejectCode.payloadTooLarge, detail: tooLarge(over.length, maxPayloadBytes, over, end - start) })
      continue
    }
    if (end - start > maxPayloadBytes) {
      rejections.push({ index: i, code: RejectCode.payloadTooLarge, detail: tooLarge(end - start, maxPayloadBytes) })
      continue
    }
    const mark = encoder.length
    try {
      const reading = decodeOne(buf, start, end, i, rejections)
      if (reading === null) continue
      rowEnds[rows] = encoder.length
      rowMessage[rows] = i
      rowTimeMs[rows] = lastMicros / 1000 + PG_EPOCH_MS
      let m = machineIndex.get(reading.machine_id)
      if (m === undefined) {
        m = machines.length
        machines.push(reading.machine_id)
        machineIndex.set(reading.machine_id, m)
      }
      rowMachine[rows] = m
      rows++
    } catch (err) {
      // Not the message's fault as far as we know, but the same bytes would fail again: dead-letter
      // this one message (its bytes are kept) rather than fail the batch forever.
      encoder.rewind(mark)
      if (rejections.at(-1)?.index === i) rejections.pop()
      rejections.push({ index: i, code: RejectCode.decodeFailed, detail: `the decoder failed: ${errorText(err)}` })
    }
  }

  return {
    copy: encoder.take(),
    rowEnds: rowEnds.subarray(0, rows),
    rowMessage: rowMessage.subarray(0, rows),
    rowTimeMs: rowTimeMs.subarray(0, rows),
    rowMachine: rowMachine.subarray(0, rows),
    machines,
    rejections,
    bytes,
    offsets,
  }
}

/** Time of the reading decodeOne last accepted, µs since 2000 (a scratch result: no object per row). */
let lastMicros = 0

/** Message i: its tuple appended to the encoder and its reading returned, or its rejection pushed and null. */
function decodeOne (buf: Buffer, start: number, end: number, i: number, rejections: Rejection[]): Reading | null {
  const view = buf.subarray(start, end)
  if (!isUtf8(view)) {
    rejections.push({ index: i, code: RejectCode.invalidUtf8, detail: 'payload is not valid UTF-8' })
    return null
  }
  let value: unknown
  try {
    value = JSON.parse(buf.toString('utf8', start, end))
  } catch (err) {
    rejections.push({ index: i, code: RejectCode.invalidJson, detail: errorText(err) })
    return null
  }
  // The walk only matters when the bytes hold an escape (the only way to a lone surrogate in valid
  // UTF-8) or nesting; three memchr scans rule both out for a flat reading (the walk for every
  // message measured +3–4 µs each, about +25% of decoding).
  const odd = view.indexOf(BACKSLASH) === -1 && view.indexOf(BRACKET) === -1 && view.indexOf(BRACE, 1) === -1 ? null : inspectValue(value)
  if (odd !== null) {
    rejections.push({ index: i, code: odd.kind === 'unicode' ? RejectCode.invalidUnicode : RejectCode.tooDeep, detail: odd.detail })
    return null
  }
  if (!validateReading(value)) {
    rejections.push({ index: i, code: RejectCode.schema, detail: describeSchemaError(value) })
    return null
  }
  const reading = value as Reading
  let micros = parseRfc3339Micros(reading.timestamp)
  let big: bigint | null = null
  if (!Number.isSafeInteger(micros)) {
    big = parseRfc3339BigMicros(reading.timestamp)
    if (big === null) {
      rejections.push({ index: i, code: RejectCode.badTimestamp, detail: `timestamp: expected RFC 3339 with an offset, e.g. 2025-07-13T10:00:00.123Z; got ${JSON.stringify(reading.timestamp.slice(0, 40))}` })
      return null
    }
    micros = Number(big)
  }
  const problem = encoder.encode(reading, micros, big)
  if (problem !== null) {
    rejections.push({ index: i, code: RejectCode.unstorable, detail: problem })
    return null
  }
  lastMicros = micros
  return reading
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

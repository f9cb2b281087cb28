/**
 * One batch, inside a parser worker: bytes → UTF-8 check → JSON.parse → validate → exact timestamp
 * → binary COPY tuple. A bad message is a returned Rejection, never a throw; the same bytes always
 * get the same answer.
 */
import { isUtf8 } from 'node:buffer'
import { RejectCode } from '../errors.js'
import type { ParsedBatch, RawBatch, Rejection } from '../contracts.js'
import { BinaryRowEncoder } from './copy-encoder.js'
import type { Reading } from './reading-schema.js'
import { validateReading } from './generated/validate-reading.js'
import { parseRfc3339BigMicros, parseRfc3339Micros } from './timestamp.js'

const PG_EPOCH_MS = 946_684_800_000
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

  for (let i = 0; i < count; i++) {
    const start = offsets[i] as number
    const end = offsets[i + 1] as number
    if (end - start > maxPayloadBytes) {
      rejections.push({ index: i, code: RejectCode.payloadTooLarge, detail: `payload is ${end - start} bytes; the limit (nats.max_payload_bytes) is ${maxPayloadBytes}` })
      continue
    }
    const view = buf.subarray(start, end)
    if (!isUtf8(view)) {
      rejections.push({ index: i, code: RejectCode.invalidUtf8, detail: 'payload is not valid UTF-8' })
      continue
    }
    let value: unknown
    try {
      value = JSON.parse(buf.toString('utf8', start, end))
    } catch (err) {
      rejections.push({ index: i, code: RejectCode.invalidJson, detail: (err as Error).message.slice(0, 200) })
      continue
    }
    if (!validateReading(value)) {
      rejections.push({ index: i, code: RejectCode.schema, detail: describeSchemaError() })
      continue
    }
    const reading = value as Reading
    let micros = parseRfc3339Micros(reading.timestamp)
    let big: bigint | null = null
    if (!Number.isSafeInteger(micros)) {
      big = parseRfc3339BigMicros(reading.timestamp)
      if (big === null) {
        rejections.push({ index: i, code: RejectCode.badTimestamp, detail: `timestamp: expected RFC 3339 with an offset, e.g. 2025-07-13T10:00:00.123Z; got ${JSON.stringify(reading.timestamp.slice(0, 40))}` })
        continue
      }
      micros = Number(big)
    }
    const problem = encoder.encode(reading, micros, big)
    if (problem !== null) {
      rejections.push({ index: i, code: RejectCode.unstorable, detail: problem })
      continue
    }
    rowEnds[rows] = encoder.length
    rowMessage[rows] = i
    rowTimeMs[rows] = micros / 1000 + PG_EPOCH_MS
    let m = machineIndex.get(reading.machine_id)
    if (m === undefined) {
      m = machines.length
      machines.push(reading.machine_id)
      machineIndex.set(reading.machine_id, m)
    }
    rowMachine[rows] = m
    rows++
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

/** ajv's first error as `field: reason`, e.g. `temperature: must be number`, `spindle_speed: is required`. */
function describeSchemaError (): string {
  const e = validateReading.errors?.[0]
  if (e === undefined) return 'does not match the message contract'
  if (e.keyword === 'required') return `${String((e.params as { missingProperty: string }).missingProperty)}: is required`
  const field = e.instancePath === '' ? 'message' : e.instancePath.slice(1).replaceAll('/', '.')
  return `${field}: ${e.message ?? 'is invalid'}`
}

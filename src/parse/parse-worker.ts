/**
 * Piscina worker entry: one task per batch. The result's buffers are moved back, never cloned.
 */
import { Piscina } from 'piscina'
import type { ParsedBatch, RawBatch } from '../contracts.js'
import { decodeBatch } from './decode-batch.js'

export default function parseTask (raw: RawBatch): unknown {
  const parsed: ParsedBatch = decodeBatch(raw)
  const buffers = new Set<ArrayBufferLike>([
    parsed.copy.buffer, parsed.rowEnds.buffer, parsed.rowMessage.buffer, parsed.rowSpan.buffer, parsed.rowTimeMs.buffer, parsed.rowMachine.buffer,
    parsed.bytes.buffer, parsed.offsets.buffer,
  ])
  // Piscina's Transferable protocol: the value to return and the buffers to move with it.
  const movable = {
    [Piscina.transferableSymbol]: [...buffers].filter((b) => b.byteLength > 0),
    [Piscina.valueSymbol]: parsed,
  }
  return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0])
}

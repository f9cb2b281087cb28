/**
 * Piscina worker entry of page-encoder.ts: one window page, binary COPY → Reading JSON (copy-json.ts).
 * The input arrives moved; the output's buffer is moved back, never cloned.
 */
import { Piscina } from 'piscina'
import { copyRowsToJson } from './copy-json.js'
import type { PageTask } from './page-encoder.js'
import { asBuffer } from '../bytes.js'

export default function pageTask (task: PageTask): unknown {
  const copy = asBuffer(task.copy)
  const page = copyRowsToJson(copy, task.idJson, task.limit)
  if (page === null) return null
  const movable = {
    [Piscina.transferableSymbol]: [page.body.buffer],
    [Piscina.valueSymbol]: page,
  }
  return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0])
}

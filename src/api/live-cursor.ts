/**
 * The live feed's resume cursor: where in commit order a client got to (issue 12).
 *
 * Frames are published per committed transaction (commit number, sql/004_live_commits.sql): one
 * frame for "*" with the whole commit, and one per machine topic, in machine id order (code point
 * order, which is also PostgreSQL's "C" order of the UTF-8 text). So a position is
 *   { commitNo, machine: null }  every reading of commits ≤ commitNo, or
 *   { commitNo, machine: id }    every reading of commits < commitNo, and of commit commitNo those
 *                                of machines ≤ id.
 * Text: commitNo in base 36, then for a machine "." and the id in base64url (UTF-8, no padding).
 * Opaque to clients; exactly one text per position, anything else is refused.
 */
import { isMachineId } from '../machine-id.js'

export interface LiveCursor {
  readonly commitNo: number
  readonly machine: string | null
}

const SHAPE = /^([0-9a-z]{1,11})(?:\.([A-Za-z0-9_-]{1,700}))?$/

export function encodeCursor (c: LiveCursor): string {
  const n = c.commitNo.toString(36)
  return c.machine === null ? n : n + '.' + Buffer.from(c.machine, 'utf8').toString('base64url')
}

/** The position a cursor text stands for, or null when it is not one this server could have sent. */
export function decodeCursor (text: unknown): LiveCursor | null {
  if (typeof text !== 'string') return null
  const m = SHAPE.exec(text)
  if (m === null) return null
  const commitNo = Number.parseInt(m[1] as string, 36)
  if (!Number.isSafeInteger(commitNo) || commitNo < 1) return null
  const machine = m[2] === undefined ? null : Buffer.from(m[2], 'base64url').toString('utf8')
  if (machine !== null && !isMachineId(machine)) return null
  const c = { commitNo, machine }
  return encodeCursor(c) === text ? c : null
}

/** Code point order of two strings (UTF-16 code units with the surrogate range moved above U+FFFF). */
export function compareIds (a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return fix(x) - fix(y)
  }
  return a.length - b.length
}

const fix = (u: number): number => u >= 0xD800 && u <= 0xDFFF ? u + 0x2000 : u >= 0xE000 ? u - 0x800 : u

/** A readings frame with the position it brings the client to. */
export function cursorFrame (c: LiveCursor, readings: readonly string[]): string {
  return '{"type":"readings","cursor":"' + encodeCursor(c) + '","data":[' + readings.join(',') + ']}'
}

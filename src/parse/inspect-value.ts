/**
 * One walk over a parsed message, before the schema sees it: every string and key must be
 * well-formed Unicode, and nesting must stay within MAX_DEPTH.
 *
 * Why: JSON text may carry lone surrogate escapes (`"CNC-\ud800"`) that JSON.parse accepts; UTF-8
 * encoding for PostgreSQL would silently turn each into U+FFFD, so `CNC-\ud800`, `CNC-\udc00` and a
 * real `CNC-\ufffd` would be stored as one machine while the live feed sends the originals. Such a
 * message is refused instead (`invalid_unicode`), anywhere in the message, like invalid UTF-8 bytes.
 *
 * Cost: the walk is iterative (input nesting cannot overflow the stack) and visits each value once;
 * isWellFormed() is O(1) on one-byte strings, which is what ASCII readings parse into, so a flat
 * reading costs one pass over its dozen keys.
 */

declare global {
  interface String {
    /** ES2024; V8 ≥ 11.1 (Node 20). */
    isWellFormed (): boolean
    toWellFormed (): string
  }
}

/** The contract is flat: depth 1 is the message object, 2 a value inside an unknown extra field. */
export const MAX_DEPTH = 32

export type Problem =
  | { readonly kind: 'unicode', readonly detail: string }
  | { readonly kind: 'depth', readonly detail: string }

// Reused between messages: the walk allocates nothing for a flat reading.
const stack: object[] = []
const depths: number[] = []
/** Top-level field each stacked value belongs to (for the detail). */
const fields: string[] = []

export function inspectValue (root: unknown): Problem | null {
  if (typeof root === 'string') return root.isWellFormed() ? null : loneSurrogate('message', root)
  if (typeof root !== 'object' || root === null) return null
  stack.length = 0
  depths.length = 0
  fields.length = 0
  stack.push(root)
  depths.push(1)
  fields.push('message')
  let problem: Problem | null = null
  while (problem === null && stack.length > 0) {
    const value = stack.pop() as object
    const depth = depths.pop() as number
    const field = fields.pop() as string
    if (depth > MAX_DEPTH) {
      problem = { kind: 'depth', detail: `${clip(field)}: nested deeper than ${MAX_DEPTH} levels` }
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length && problem === null; i++) problem = visit(value[i], depth, field)
    } else {
      const obj = value as Record<string, unknown>
      for (const key in obj) {
        const name = depth === 1 ? key : field
        problem = key.isWellFormed() ? visit(obj[key], depth, name) : loneSurrogate(`${field} (a key)`, key)
        if (problem !== null) break
      }
    }
  }
  stack.length = 0
  return problem
}

function visit (v: unknown, depth: number, field: string): Problem | null {
  if (typeof v === 'string') return v.isWellFormed() ? null : loneSurrogate(field, v)
  if (typeof v === 'object' && v !== null) {
    stack.push(v)
    depths.push(depth + 1)
    fields.push(field)
  }
  return null
}

function loneSurrogate (field: string, s: string): Problem {
  let at = 0
  for (; at < s.length; at++) {
    const c = s.charCodeAt(at)
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(at + 1)
      if (next >= 0xdc00 && next <= 0xdfff) { at++; continue }
      break
    }
    if (c >= 0xdc00 && c <= 0xdfff) break
  }
  const code = s.charCodeAt(at).toString(16)
  return { kind: 'unicode', detail: `${clip(field)}: lone surrogate \\u${code} at character ${at}; the text is not valid Unicode (it is not rewritten to U+FFFD)` }
}

/** Field names come from the payload: a detail quotes at most 64 characters of one. */
function clip (field: string): string {
  return field.length <= 64 ? field : field.slice(0, 64).toWellFormed() + '…'
}

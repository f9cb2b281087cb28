/**
 * GET /api/v1/rejected?limit=&cursor=   dead-lettered messages, newest first, with a bounded preview
 *                                       of each payload (store/rejected.ts PREVIEW_BYTES) and its size
 * GET /api/v1/rejected/:id              one dead letter with its whole payload
 *
 * A page is bounded in bytes whatever publishers sent: limit × (preview + detail + subject), never
 * limit × nats.max_payload_bytes. Payload text is returned as UTF-8 when valid (payload_encoding
 * "utf8"), else base64; a preview cut inside a multi-byte character is shortened to the character
 * boundary before that test, so a truncated UTF-8 payload still previews as text.
 */
import { isUtf8 } from 'node:buffer'
import { PREVIEW_BYTES, rejectedOne, rejectedPage, type RejectedRow } from '../store/rejected.js'
import { ApiErrorCode, HttpError, badParam, sendRows, type Exchange } from './http.js'
import { cursorMicros, cursorParam, encodeCursor, intParam } from './params.js'
import type { Route } from './router.js'
import type { StoreAccess } from './store-access.js'

export const DEFAULT_REJECTED_LIMIT = 100
export const MAX_REJECTED_LIMIT = 1_000
export { PREVIEW_BYTES }

const INT8_MAX = 9_223_372_036_854_775_807n
const validId = (s: string): boolean => /^\d{1,19}$/.test(s) && BigInt(s) <= INT8_MAX

interface RejectedCursor { readonly receivedAt: string, readonly id: string }

function checkCursor (v: Record<string, unknown>): RejectedCursor | null {
  if (v.v !== 1 || typeof v.r !== 'string' || cursorMicros(v.r) === null || typeof v.i !== 'string' || !validId(v.i)) return null
  return { receivedAt: v.r, id: v.i }
}

/** The bytes as text when they are UTF-8 (a cut-off prefix: up to its last whole character). */
function encode (bytes: Buffer, truncated: boolean): { encoding: 'utf8' | 'base64', text: string } {
  if (isUtf8(bytes)) return { encoding: 'utf8', text: bytes.toString('utf8') }
  // A UTF-8 character is at most 4 bytes: a cut leaves 1–3 bytes of an incomplete one.
  const cuts = truncated ? Math.min(3, bytes.length - 1) : 0
  for (let cut = 1; cut <= cuts; cut++) {
    const head = bytes.subarray(0, bytes.length - cut)
    if (isUtf8(head)) return { encoding: 'utf8', text: head.toString('utf8') }
  }
  return { encoding: 'base64', text: bytes.toString('base64') }
}

function fields (r: RejectedRow): Record<string, unknown> {
  const [id, receivedAt, subject, seq, reason, detail, , size] = r
  return { id: Number(id), received_at: receivedAt, subject, stream_seq: seq === null ? null : Number(seq), reason, detail, payload_bytes: size }
}

function previewJson (r: RejectedRow): string {
  const truncated = r[7] > r[6].length
  const p = encode(r[6], truncated)
  return JSON.stringify({ ...fields(r), payload_truncated: truncated, payload_encoding: p.encoding, payload_preview: p.text })
}

export function rejectedRoutes (store: StoreAccess): Route[] {
  async function list (ex: Exchange): Promise<void> {
    const limit = intParam(ex, 'limit', DEFAULT_REJECTED_LIMIT, 1, MAX_REJECTED_LIMIT)
    const cursor = cursorParam(ex, checkCursor)
    const rows = await rejectedPage(store().db, limit + 1, cursor)
    const more = rows.length > limit
    const page = more ? rows.slice(0, limit) : rows
    const last = page[page.length - 1]
    const next = more && last !== undefined ? encodeCursor({ v: 1, r: last[1], i: last[0] }) : null
    const head = `{"limit":${limit},"count":${page.length},"has_more":${more},"next_cursor":${JSON.stringify(next)},"data":`
    await sendRows(ex, head, page, previewJson)
  }

  async function one (ex: Exchange): Promise<void> {
    const id = ex.param(0, 'id')
    if (!validId(id)) throw badParam('id must be the integer id of a dead letter (from /api/v1/rejected)')
    const row = await rejectedOne(store().db, id)
    if (row === undefined) throw new HttpError(ApiErrorCode.notFound, `no dead letter ${id}`)
    const p = encode(row[6], false)
    ex.send(200, JSON.stringify({ ...fields(row), payload_encoding: p.encoding, payload: p.text }))
  }

  return [
    { method: 'GET', pattern: '/api/v1/rejected', auth: true, handler: list },
    { method: 'GET', pattern: '/api/v1/rejected/:id', auth: true, handler: one },
  ]
}

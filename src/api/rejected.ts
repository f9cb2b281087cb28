/**
 * GET /api/v1/rejected?limit=&cursor=   dead-lettered messages, newest first.
 * The payload is returned as text when it is valid UTF-8 (payload_encoding "utf8"), else base64.
 */
import { isUtf8 } from 'node:buffer'
import { rejectedPage, type RejectedRow } from '../store/rejected.js'
import { sendRows, type Exchange } from './http.js'
import { cursorMicros, cursorParam, encodeCursor, intParam } from './params.js'
import type { Route } from './router.js'
import type { StoreAccess } from './server.js'

export const DEFAULT_REJECTED_LIMIT = 100
export const MAX_REJECTED_LIMIT = 1_000

interface RejectedCursor { readonly receivedAt: string, readonly id: string }

function checkCursor (v: Record<string, unknown>): RejectedCursor | null {
  if (v.v !== 1 || typeof v.r !== 'string' || cursorMicros(v.r) === null || typeof v.i !== 'string' || !/^\d{1,19}$/.test(v.i)) return null
  if (BigInt(v.i) > 9_223_372_036_854_775_807n) return null
  return { receivedAt: v.r, id: v.i }
}

function toJson (r: RejectedRow): string {
  const [id, receivedAt, subject, seq, reason, detail, payload] = r
  const utf8 = isUtf8(payload)
  return JSON.stringify({
    id: Number(id),
    received_at: receivedAt,
    subject,
    stream_seq: seq === null ? null : Number(seq),
    reason,
    detail,
    payload_encoding: utf8 ? 'utf8' : 'base64',
    payload: payload.toString(utf8 ? 'utf8' : 'base64'),
  })
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
    await sendRows(ex, head, page, toJson)
  }
  return [{ method: 'GET', pattern: '/api/v1/rejected', auth: true, handler: list }]
}

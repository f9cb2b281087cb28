/**
 * Read-side SQL of rejected_messages (dead letters): newest first, keyset on (received_at, id).
 * Pages carry a bounded prefix of each payload and its size, never the payload itself (payloads
 * go up to nats.max_payload_bytes each); one dead letter's whole payload comes from rejectedOne.
 */
import type pg from 'pg'
import { isoUtc } from './machines.js'

/** Bytes of each payload a page carries (the preview); the whole payload: GET /api/v1/rejected/{id}. */
export const PREVIEW_BYTES = 256
/** Characters of `detail` kept in pages and items (our own text; bounded anyway). */
export const DETAIL_CHARS = 1_024

/** [id, received_at, subject, stream_seq, reason, detail, payload prefix, payload size in bytes] */
export type RejectedRow = [string, string, string, string | null, string, string, Buffer, number]

const COLUMNS = `id::text, ${isoUtc('received_at')}, subject, stream_seq::text, reason, left(detail, ${DETAIL_CHARS})`
const SELECT = `SELECT ${COLUMNS}, substring(payload FROM 1 FOR ${PREVIEW_BYTES}), octet_length(payload) FROM rejected_messages`

/** One page, newest first; `before` is the (received_at, id) of the previous page's last row. */
export async function rejectedPage (db: pg.Pool, limit: number, before?: { readonly receivedAt: string, readonly id: string }): Promise<RejectedRow[]> {
  const r = before === undefined
    ? await db.query<RejectedRow>({ name: 'rejected-first', text: `${SELECT} ORDER BY received_at DESC, id DESC LIMIT $1`, values: [limit], rowMode: 'array' })
    : await db.query<RejectedRow>({
      name: 'rejected-next',
      text: `${SELECT} WHERE (received_at, id) < ($2::timestamptz, $3::bigint) ORDER BY received_at DESC, id DESC LIMIT $1`,
      values: [limit, before.receivedAt, before.id],
      rowMode: 'array',
    })
  return r.rows
}

/** One dead letter with its whole payload (as stored; at most nats.max_payload_bytes), or undefined. */
export async function rejectedOne (db: pg.Pool, id: string): Promise<RejectedRow | undefined> {
  const r = await db.query<RejectedRow>({
    name: 'rejected-one',
    text: `SELECT ${COLUMNS}, payload, octet_length(payload) FROM rejected_messages WHERE id = $1::bigint`,
    values: [id],
    rowMode: 'array',
  })
  return r.rows[0]
}

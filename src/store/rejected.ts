/** Read-side SQL of rejected_messages (dead letters): newest first, keyset on (received_at, id). */
import type pg from 'pg'
import { isoUtc } from './machines.js'

/** [id, received_at, subject, stream_seq, reason, detail, payload] */
export type RejectedRow = [string, string, string, string | null, string, string, Buffer]

const SELECT = `SELECT id::text, ${isoUtc('received_at')}, subject, stream_seq::text, reason, detail, payload FROM rejected_messages`

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

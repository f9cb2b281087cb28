/**
 * Dead letters: messages that can never become a reading, stored with their reason and raw bytes
 * in the same transaction as the batch's rows, so a message is termed only once its record is durable.
 */
import type pg from 'pg'

export interface DeadLetter {
  readonly subject: string
  readonly streamSeq: number | null
  readonly reason: string
  readonly detail: string
  readonly payload: Uint8Array
}

const INSERT_SQL = `INSERT INTO rejected_messages (subject, stream_seq, reason, detail, payload)
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bytea[])`

/** PostgreSQL text cannot hold NUL; details quote user bytes, so those are replaced. */
function cleanText (s: string, max: number): string {
  return s.replaceAll('\0', '\uFFFD').slice(0, max)
}

export async function insertDeadLetters (client: pg.ClientBase, letters: readonly DeadLetter[]): Promise<void> {
  await client.query(INSERT_SQL, [
    letters.map((l) => cleanText(l.subject, 1024)),
    letters.map((l) => l.streamSeq),
    letters.map((l) => l.reason),
    letters.map((l) => cleanText(l.detail, 1000)),
    letters.map((l) => Buffer.from(l.payload.buffer, l.payload.byteOffset, l.payload.byteLength)),
  ])
}

/**
 * Dead letters: messages that can never become a reading, stored with their reason and raw bytes
 * in the same transaction as the batch's rows, so a message is termed only once its record is durable.
 *
 * pg sends a `bytea[]` parameter as one hex string (2 characters per byte): 5,000 letters of 64 KB
 * would be a 650 MB string, past V8's limit (~512 MB: `RangeError: Invalid string length`). The
 * INSERT is therefore cut into statements of at most CHUNK_BYTES payload bytes (one letter alone
 * may exceed it; its size is bounded by nats.max_payload_bytes).
 */
import type pg from 'pg'
import { asBuffer } from '../bytes.js'

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

/** 8 MB of payload per statement: a 16 MB hex string, small against V8's limit and pg's buffers. */
export const CHUNK_BYTES = 8 * 1024 * 1024

export async function insertDeadLetters (client: pg.ClientBase, letters: readonly DeadLetter[]): Promise<void> {
  let from = 0
  while (from < letters.length) {
    let to = from
    let bytes = 0
    while (to < letters.length && (to === from || bytes + (letters[to] as DeadLetter).payload.byteLength <= CHUNK_BYTES)) {
      bytes += (letters[to] as DeadLetter).payload.byteLength
      to++
    }
    await insertChunk(client, letters.slice(from, to))
    from = to
  }
}

async function insertChunk (client: pg.ClientBase, letters: readonly DeadLetter[]): Promise<void> {
  await client.query(INSERT_SQL, [
    letters.map((l) => cleanText(l.subject, 1024)),
    letters.map((l) => l.streamSeq),
    letters.map((l) => l.reason),
    letters.map((l) => cleanText(l.detail, 1000)),
    letters.map((l) => asBuffer(l.payload)),
  ])
}

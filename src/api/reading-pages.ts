/**
 * Keyset pages over one machine's readings in a window, each of at most `limit` rows whatever the
 * data, every row exactly once (also while rows arrive, barring rows inserted behind the cursor).
 *
 * Order: time, then, inside a group of rows sharing one timestamp, the row key (store/readings.ts).
 * A cursor is a position in that order:
 *
 *   { t, k: null }      every row with time <= t was shown
 *   { t, k, n }         every row with time < t was shown, and of the rows at t those with a key < k,
 *                       plus n of those with key = k (identical rows)
 *
 * A page reads forward by time (index order, no key computed), fetching one row more than it
 * shows. When that extra row shares the timestamp of the page's last row, the page would end inside
 * a group: the group's rows are dropped from the time-ordered part and taken again in key order
 * (readingsInGroup), as many as the page has room for. So only pages that touch a group larger
 * than the room left pay for ordering it.
 */
import type pg from 'pg'
import { readingsAfter, readingsInGroup, type KeyedReadingRow, type ReadingRow } from '../store/readings.js'
import { cursorMicros } from './params.js'

const KEY_RE = /^[0-9a-f]{64}$/

export interface DataCursor {
  /** µs since 2000-01-01Z of the group the cursor is in or after. */
  readonly t: bigint
  readonly tIso: string
  /** Row key (hex) inside group t, or null: group t is done. */
  readonly k: string | null
  /** Rows with key = k already shown. */
  readonly n: number
  /** The window, fixed by the first page. */
  readonly start: bigint
  readonly end: bigint
}

export interface Page {
  readonly rows: ReadingRow[]
  /** Cursor fields for the next page (to be encoded by the caller), or null at the end. */
  readonly next: { readonly t: string, readonly k: string | null, readonly n: number } | null
}

/** Validates a decoded cursor object (v2, or v1 {a, s, e} of earlier releases) for machine `id`. */
export function checkCursor (id: string) {
  return (v: Record<string, unknown>): DataCursor | null => {
    const start = cursorMicros(v.s)
    const end = cursorMicros(v.e)
    if (v.m !== id || start === null || end === null) return null
    if (v.v === 1) {
      const t = cursorMicros(v.a)
      return t === null ? null : { t, tIso: v.a as string, k: null, n: 0, start, end }
    }
    const t = cursorMicros(v.t)
    if (v.v !== 2 || t === null) return null
    const k = v.k === null ? null : (typeof v.k === 'string' && KEY_RE.test(v.k) ? v.k : undefined)
    const n = v.n
    if (k === undefined || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || (k === null && n !== 0)) return null
    return { t, tIso: v.t as string, k, n, start, end }
  }
}

/** Trailing rows of `rows` whose key equals the last one's. */
function trailingEqual (rows: readonly KeyedReadingRow[]): number {
  const last = rows[rows.length - 1]?.[11]
  let i = rows.length
  while (i > 0 && (rows[i - 1] as KeyedReadingRow)[11] === last) i--
  return rows.length - i
}

/**
 * One page after position (`afterIso`, `key`, `skip`) up to `endIso`. `afterIso` is a group
 * timestamp (key non-null: inside that group) or, for a first page, an instant before the window.
 */
export async function readPage (db: pg.Pool, id: string, afterIso: string, key: string | null, skip: number, endIso: string, limit: number): Promise<Page> {
  const out: ReadingRow[] = []
  if (key !== null) {
    const g = await readingsInGroup(db, id, afterIso, key, skip, limit + 1)
    if (g.length > limit) {
      const taken = g.slice(0, limit)
      const lastKey = (taken[limit - 1] as KeyedReadingRow)[11]
      return { rows: taken as unknown as ReadingRow[], next: { t: afterIso, k: lastKey, n: trailingEqual(taken) + (lastKey === key ? skip : 0) } }
    }
    out.push(...(g as unknown as ReadingRow[]))
  }
  const room = limit - out.length
  const b = await readingsAfter(db, id, afterIso, endIso, room + 1)
  if (b.length <= room) {
    out.push(...b)
    return { rows: out, next: null }
  }
  const boundary = (b[room] as ReadingRow)[0]
  if (room === 0) return { rows: out, next: { t: afterIso, k: null, n: 0 } }
  let cut = room
  while (cut > 0 && (b[cut - 1] as ReadingRow)[0] === boundary) cut--
  if (cut === room) {
    out.push(...b.slice(0, room))
    return { rows: out, next: { t: (b[room - 1] as ReadingRow)[0], k: null, n: 0 } }
  }
  for (let i = 0; i < cut; i++) out.push(b[i] as ReadingRow)
  const left = room - cut
  const g = await readingsInGroup(db, id, boundary, null, 0, left + 1)
  const taken = g.slice(0, left)
  out.push(...(taken as unknown as ReadingRow[]))
  // g has at least left + 1 rows unless rows were deleted meanwhile; then the group is done.
  if (g.length <= left) return { rows: out, next: { t: boundary, k: null, n: 0 } }
  return { rows: out, next: { t: boundary, k: (taken[left - 1] as KeyedReadingRow)[11], n: trailingEqual(taken) } }
}

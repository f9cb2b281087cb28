/**
 * Keyset pages over one machine's readings in a window, each of at most `limit` rows whatever the
 * data, every row exactly once (also while rows arrive, barring rows inserted behind the cursor).
 *
 * Order: time, then, inside a group of rows sharing one timestamp, the row's other values
 * (GroupKey, store/readings.ts).
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
 *
 * Most pages touch no such group: readPageJson answers them as JSON bytes straight from COPY
 * (copy-json.ts), the same bytes as readPage's rows through reading-json.ts, and hands the rest to
 * readPage.
 */
import type pg from 'pg'
import { READING_FIELDS } from '../reading-fields.js'
import { groupKey, readingsAfter, readingsAfterCopy, readingsInGroup, type GroupKey, type ReadingRow } from '../store/readings.js'
import type { PageEncoder } from './page-encoder.js'
import { cursorMicros } from './params.js'

/** What PostgreSQL parses back as float8 (String(number) writes these), and int4. */
const FLOAT_RE = /^(?:-?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?|-?Infinity|NaN)$/
const INT4_RE = /^-?\d{1,10}$/
const isInt4 = (x: string): boolean => INT4_RE.test(x) && Number(x) >= -2_147_483_648 && Number(x) <= 2_147_483_647
/** Per GroupKey position (READING_FIELDS order): does a cursor's value parse back as the column's type? */
const KEY_CHECKS = READING_FIELDS.map((f): (x: string) => boolean =>
  f.sql === 'int4' ? isInt4 : f.sql === 'float8' ? (x) => FLOAT_RE.test(x) : () => true)
const KEY_LENGTH = KEY_CHECKS.length

function checkKey (v: unknown): GroupKey | null | undefined {
  if (v === null) return null
  if (!Array.isArray(v) || v.length !== KEY_LENGTH) return undefined
  for (let i = 0; i < KEY_LENGTH; i++) {
    const x: unknown = v[i]
    if (x === null) continue
    if (typeof x !== 'string' || x.includes('\u0000')) return undefined
    if (!(KEY_CHECKS[i] as (x: string) => boolean)(x)) return undefined
  }
  return v as GroupKey
}

const sameKey = (a: GroupKey, b: GroupKey): boolean => a.every((x, i) => x === b[i])

export interface DataCursor {
  /** µs since 2000-01-01Z of the group the cursor is in or after. */
  readonly t: bigint
  readonly tIso: string
  /** Position inside group t, or null: group t is done. */
  readonly k: GroupKey | null
  /** Rows with key = k already shown. */
  readonly n: number
  /** The window, fixed by the first page. */
  readonly start: bigint
  readonly end: bigint
}

export interface Page {
  readonly rows: ReadingRow[]
  /** Cursor fields for the next page (to be encoded by the caller), or null at the end. */
  readonly next: { readonly t: string, readonly k: GroupKey | null, readonly n: number } | null
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
    const k = checkKey(v.k)
    const n = v.n
    if (k === undefined || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || (k === null && n !== 0)) return null
    return { t, tIso: v.t as string, k, n, start, end }
  }
}

/** Trailing rows of `rows` whose key equals the last one's, and that key. */
function lastKey (rows: readonly ReadingRow[]): { key: GroupKey, equal: number } {
  const key = groupKey(rows[rows.length - 1] as ReadingRow)
  let i = rows.length - 1
  while (i > 0 && sameKey(groupKey(rows[i - 1] as ReadingRow), key)) i--
  return { key, equal: rows.length - i }
}

/**
 * One page after position (`afterIso`, `key`, `skip`) up to `endIso`. `afterIso` is a group
 * timestamp (key non-null: inside that group) or, for a first page, an instant before the window.
 */
export async function readPage (db: pg.Pool, id: string, afterIso: string, key: GroupKey | null, skip: number, endIso: string, limit: number): Promise<Page> {
  const out: ReadingRow[] = []
  if (key !== null) {
    const g = await readingsInGroup(db, id, afterIso, key, skip, limit + 1)
    if (g.length > limit) {
      const taken = g.slice(0, limit)
      const last = lastKey(taken)
      return { rows: taken, next: { t: afterIso, k: last.key, n: last.equal + (sameKey(last.key, key) ? skip : 0) } }
    }
    out.push(...g)
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
  out.push(...taken)
  // g has at least left + 1 rows unless rows were deleted meanwhile; then the group is done.
  if (g.length <= left) return { rows: out, next: { t: boundary, k: null, n: 0 } }
  const last = lastKey(taken)
  return { rows: out, next: { t: boundary, k: last.key, n: last.equal } }
}

/** A page as Reading JSON bytes: the rows joined by commas, without brackets. */
export interface JsonPage {
  readonly body: Buffer
  readonly count: number
  readonly next: Page['next']
}

/**
 * readPage for a position between groups (`afterIso`, key null), as JSON of machine `idJson`;
 * null when the page would end inside a group of equal timestamps (then readPage orders it), or
 * holds a timestamp copy-json.ts does not convert.
 */
export async function readPageJson (db: pg.Pool, encoder: PageEncoder, id: string, idJson: string, afterIso: string, endIso: string, limit: number): Promise<JsonPage | null> {
  const encoding = encoder.page(idJson, limit)
  await readingsAfterCopy(db, id, afterIso, endIso, limit + 1, encoding.push)
  const page = await encoding.end()
  if (page === null) return null
  if (page.nextTime === null) return { body: page.body, count: page.count, next: null }
  if (page.lastTime === null || page.nextTime === page.lastTime) return null
  return { body: page.body, count: page.count, next: { t: page.lastTime, k: null, n: 0 } }
}

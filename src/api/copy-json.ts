/**
 * Reading JSON straight from PostgreSQL's binary COPY output: the window pages of /data without a
 * JavaScript value per field beyond the number being written. Input rows are those of
 * store/readings.ts readingsAfterCopy, `COPY … TO STDOUT (FORMAT binary)`: the signature and header,
 * then per row a field count and per field a length (-1 for NULL) and its bytes, big-endian:
 * the timestamp (int8 µs since 2000-01-01 UTC), then READING_FIELDS in order (float8, int4, text).
 *
 * The bytes are the ones reading-json.ts rowJson writes for the same row read by readingsAfter
 * (test/integration/reading-pages.test.ts compares both on values chosen to break a conversion):
 *   time    as to_char(… 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') prints it, for years 1 to 9999; another
 *           timestamp (BC, a year past 9999, ±infinity) makes the page null and the caller reads it
 *           the other way.
 *   float8  String(v): written from digits when v has at most six decimals and |v| · 10^k < 2^31
 *           (below 2^52 exactly one k-digit decimal rounds to v, so it is the shortest, which String
 *           prints), else String(v) itself (NaN, ±Infinity, 1e21, 5e-324, 0.1 + 0.2 …).
 *   int4    decimal digits.
 *   text    the UTF-8 bytes escaped as JSON.stringify escapes (\" \\ \b \f \n \r \t, other controls
 *           as \u00xx; the database's text is valid UTF-8).
 * Binary against text COPY (bench/RESULTS.md, issue 16): PostgreSQL spends about 5 ms less per
 * 10,000 rows (no float8out, no timestamp formatting, no COPY escaping); writing the digits costs
 * JavaScript about 2 ms more than copying PostgreSQL's text did.
 */
import { READING_FIELDS } from '../reading-fields.js'

const QUOTE = 0x22
const BACKSLASH = 0x5c
const ZERO = 0x30

const N = READING_FIELDS.length
/** Binary COPY's signature: `PGCOPY\n\377\r\n\0`, then int32 flags and int32 header-extension length. */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')
const HEADER = SIGNATURE.length + 8

const enum Kind { Float, Int, Text }
const KIND: readonly Kind[] = READING_FIELDS.map((f) => f.sql === 'float8' ? Kind.Float : f.sql === 'int4' ? Kind.Int : Kind.Text)
const HEX = '0123456789abcdef'

/**
 * A constant piece of output (a key, the row prefix) as big-endian 32-bit words and its last
 * length % 4 bytes: written four bytes per DataView store, which took a 10,000-row page from about
 * 5.0 to 3.6 ms against a byte loop (keys are three quarters of the output).
 */
interface Piece { readonly words: Uint32Array, readonly tail: Uint8Array, readonly length: number }

function piece (text: string): Piece {
  const b = Buffer.from(text)
  const n = b.length >> 2
  const words = new Uint32Array(n)
  for (let i = 0; i < n; i++) words[i] = b.readUInt32BE(i * 4)
  return { words, tail: Uint8Array.from(b.subarray(n * 4)), length: b.length }
}

/** Writes `c` at out[p] (dv views out); returns the new end. */
function put (dv: DataView, out: Buffer, p: number, c: Piece): number {
  const w = c.words
  for (let i = 0; i < w.length; i++) {
    dv.setUint32(p, w[i] as number)
    p += 4
  }
  const t = c.tail
  for (let i = 0; i < t.length; i++) out[p++] = t[i] as number
  return p
}

/** The DataView over all of `b`. */
const viewOf = (b: Buffer): DataView => new DataView(b.buffer, b.byteOffset, b.length)

/** `,"name":` per field. */
const KEYS: readonly Piece[] = READING_FIELDS.map((f) => piece(`,"${f.name}":`))
const KEYS_LENGTH = KEYS.reduce((sum, k) => sum + k.length, 0)

/** A control byte's JSON escape, as JSON.stringify writes it. */
const CONTROL: readonly Buffer[] = Array.from({ length: 0x20 }, (_, c) => Buffer.from(
  c === 0x08 ? '\\b' : c === 0x0c ? '\\f' : c === 0x0a ? '\\n' : c === 0x0d ? '\\r' : c === 0x09 ? '\\t' : `\\u00${HEX[c >> 4] as string}${HEX[c & 15] as string}`))

/** Most bytes one text byte can become (a control byte → `\u00xx`); the longest number String() writes, and then some. */
const GROWTH = 6
const NUMBER_ROOM = 32
/** Room for a row's fixed parts: keys, machine id prefix (added per call), timestamp, braces. */
const ROW_FIXED = KEYS_LENGTH + 64

export interface CopyJsonPage {
  /** The first `count` rows as Reading JSON objects joined by commas (no brackets). */
  readonly body: Buffer
  /** Rows in `body`: min(rows in the input, limit). */
  readonly count: number
  /** Timestamp of the last row in `body` as the API prints it (null when empty). */
  readonly lastTime: string | null
  /** Timestamp of row number `limit` (the first not in `body`), null when the input had no more rows. */
  readonly nextTime: string | null
}

const US_PER_S = 1_000_000
const S_PER_DAY = 86_400
/** Seconds from 1970-01-01 to 2000-01-01, PostgreSQL's timestamp epoch. */
const PG_EPOCH_S = 946_684_800
/** 2^32 = TWO32_HI µs-millions + TWO32_LO µs: splits an int8 of µs without BigInt. */
const TWO32_HI = 4294
const TWO32_LO = 967_296

/**
 * A timestamp decoder with the date of the last day it saw: consecutive rows of a window nearly
 * always share it, so per row only the time of day is written from numbers.
 */
class Timestamps {
  /** Seconds since 1970 of the cached day's midnight, and its `YYYY-MM-DD` bytes. */
  #dayStart = Number.NaN
  readonly #date = Buffer.alloc(10)
  /** Set by decode(): seconds of the day and microseconds. */
  second = 0
  micro = 0

  /** Decodes the int8 at src[at]; false when outside years 1 to 9999. */
  decode (sv: DataView, at: number): boolean {
    const hi = sv.getInt32(at)
    const lo = sv.getUint32(at + 4)
    // µs = hi · 2^32 + lo = (hi · TWO32_HI) · 10^6 + (hi · TWO32_LO + lo), each part exact in a double.
    const a = hi * TWO32_LO + lo
    let s = Math.floor(a / US_PER_S)
    let us = a - s * US_PER_S
    if (us < 0) { s--; us += US_PER_S } else if (us >= US_PER_S) { s++; us -= US_PER_S }
    s += hi * TWO32_HI + PG_EPOCH_S
    this.micro = us
    let second = s - this.#dayStart
    if (second >= 0 && second < S_PER_DAY) {
      this.second = second
      return true
    }
    let day = Math.floor(s / S_PER_DAY)
    second = s - day * S_PER_DAY
    if (second < 0) { day--; second += S_PER_DAY } else if (second >= S_PER_DAY) { day++; second -= S_PER_DAY }
    if (!this.#setDay(day)) return false
    this.#dayStart = day * S_PER_DAY
    this.second = second
    return true
  }

  /** Civil date of `days` since 1970-01-01 (proleptic Gregorian) into #date; false outside years 1–9999. */
  #setDay (days: number): boolean {
    const z = days + 719_468
    const era = Math.floor(z / 146_097)
    const doe = z - era * 146_097
    const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
    const mp = Math.floor((5 * doy + 2) / 153)
    const d = doy - Math.floor((153 * mp + 2) / 5) + 1
    const m = mp < 10 ? mp + 3 : mp - 9
    const y = yoe + era * 400 + (m <= 2 ? 1 : 0)
    if (y < 1 || y > 9999) return false
    const b = this.#date
    b[0] = ZERO + Math.floor(y / 1000); b[1] = ZERO + Math.floor(y / 100) % 10; b[2] = ZERO + Math.floor(y / 10) % 10; b[3] = ZERO + y % 10
    b[4] = 0x2d; b[5] = ZERO + Math.floor(m / 10); b[6] = ZERO + m % 10
    b[7] = 0x2d; b[8] = ZERO + Math.floor(d / 10); b[9] = ZERO + d % 10
    return true
  }

  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ` of the last decode() at out[p]; returns the new end. */
  write (out: Buffer, p: number): number {
    const b = this.#date
    for (let k = 0; k < 10; k++) out[p++] = b[k] as number
    const s = this.second | 0
    const h = (s / 3600) | 0
    const mi = ((s - h * 3600) / 60) | 0
    const se = s - h * 3600 - mi * 60
    out[p++] = 0x54
    out[p++] = ZERO + ((h / 10) | 0); out[p++] = ZERO + h % 10; out[p++] = 0x3a
    out[p++] = ZERO + ((mi / 10) | 0); out[p++] = ZERO + mi % 10; out[p++] = 0x3a
    out[p++] = ZERO + ((se / 10) | 0); out[p++] = ZERO + se % 10; out[p++] = 0x2e
    let us = this.micro | 0
    for (let k = p + 5; k >= p; k--) { const q = (us / 10) | 0; out[k] = ZERO + us - q * 10; us = q }
    p += 6
    out[p++] = 0x5a
    return p
  }

  /** The last decode() as the API prints it. */
  text (): string {
    const b = Buffer.allocUnsafe(27)
    return b.toString('latin1', 0, this.write(b, 0))
  }
}

const POW10 = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000]
const TWO31 = 2 ** 31
const TWO52 = 2 ** 52

/** The digits of the integer 0 ≤ v < 2^31 at out[p], `frac` of them after a point; returns the new end. */
function writeInt (out: Buffer, p: number, v: number, frac: number): number {
  let left = v | 0
  let len = 1
  while (len < 10 && left >= (POW10[len] as number)) len++
  if (len <= frac) {
    // 0.00ddd
    out[p++] = ZERO
    out[p++] = 0x2e
    for (let z = len; z < frac; z++) out[p++] = ZERO
    frac = 0
  }
  const end = p + len + (frac > 0 ? 1 : 0)
  let k = end
  for (let d = 0; d < len; d++) {
    if (d === frac && d > 0) out[--k] = 0x2e
    const q = (left / 10) | 0
    out[--k] = ZERO + left - q * 10
    left = q
  }
  return end
}

/** float8 `v` as String(v) writes it, at out[p]; returns the new end. */
function writeFloat (out: Buffer, p: number, v: number): number {
  const a = v < 0 ? -v : v
  for (let k = 0; k <= 6; k++) {
    const scale = POW10[k] as number
    const m = Math.round(a * scale)
    if (!(m < TWO52)) break
    if (m / scale !== a) continue
    // m / 10^k is the only k-digit decimal that rounds to v (m < 2^52: such decimals lie 10^-k apart,
    // wider than the interval that rounds to v), and no shorter one does (k is the first):
    // String(v)'s digits. A trailing zero would mean the product's rounding hid a shorter one.
    if (m === 0) { out[p++] = ZERO; return p }
    if ((k > 0 && m % 10 === 0) || m >= TWO31) break
    if (v < 0) out[p++] = 0x2d
    return writeInt(out, p, m, k)
  }
  return p + out.write(String(v), p, 'latin1')
}

/** A text field's UTF-8 bytes src[from..to) as a JSON string at out[p]; returns the new end. */
function writeText (out: Buffer, p: number, src: Buffer, from: number, to: number): number {
  out[p++] = QUOTE
  for (let i = from; i < to; i++) {
    const c = src[i] as number
    if (c >= 0x20) {
      if (c === QUOTE || c === BACKSLASH) out[p++] = BACKSLASH
      out[p++] = c
    } else {
      const esc = CONTROL[c] as Buffer
      for (let k = 0; k < esc.length; k++) out[p++] = esc[k] as number
    }
  }
  out[p++] = QUOTE
  return p
}

/** A copy of out[0..p) in a buffer with room for `more` bytes after p. */
function grow (out: Buffer, p: number, more: number): Buffer {
  const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, p + more))
  out.copy(bigger, 0, 0, p)
  return bigger
}

const malformed = (why: string): Error => new Error(`binary COPY input: ${why}`)

/**
 * Converts binary COPY rows (see the file header) into Reading JSON of machine `idJson` (already
 * JSON-encoded), at most `limit` rows; of row `limit`, if present, only the timestamp is read.
 * Chunks are pushed as they arrive (a row may span two), so the encoding of a page overlaps the
 * database's sending it. Lifecycle: constructor → push()* → end().
 */
export class CopyJsonEncoder {
  readonly #prefix: Piece
  readonly #fixed: number
  readonly #limit: number
  #out: Buffer
  #dv: DataView
  #p = 0
  #count = 0
  readonly #ts = new Timestamps()
  #lastTime: string | null = null
  #nextTime: string | null = null
  /** The header was read. */
  #started = false
  /** The trailer or row `limit` was reached, or a timestamp out of range (#declined): the rest is not read. */
  #done = false
  #declined = false
  /** Bytes of an incomplete row (or header) from the last push. */
  #rest: Buffer | undefined

  constructor (idJson: string, limit: number) {
    this.#prefix = piece(`{"machine_id":${idJson},"timestamp":"`)
    this.#fixed = this.#prefix.length + ROW_FIXED
    this.#limit = limit
    // About 290 bytes per row of these; memory not written to is never touched. Grown when a field would not fit.
    this.#out = Buffer.allocUnsafe(Math.min(limit, 20_000) * 320 + 4096)
    this.#dv = viewOf(this.#out)
  }

  push (chunk: Buffer): void {
    if (this.#done) return
    const src = this.#rest === undefined ? chunk : Buffer.concat([this.#rest, chunk])
    this.#rest = undefined
    const n = src.length
    const sv = viewOf(src)
    let i = 0
    if (!this.#started) {
      if (n < HEADER) { this.#rest = src; return }
      if (!src.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw malformed('no binary COPY signature')
      const ext = sv.getInt32(SIGNATURE.length + 4)
      if (n < HEADER + ext) { this.#rest = src; return }
      i = HEADER + ext
      this.#started = true
    }
    const limit = this.#limit
    const fixed = this.#fixed
    const ts = this.#ts
    let out = this.#out
    let dv = this.#dv
    let p = this.#p
    let count = this.#count
    for (;;) {
      // A whole row, or keep its bytes for the next push.
      if (i + 2 > n) break
      const fields = sv.getInt16(i)
      if (fields === -1) { this.#done = true; break }
      if (fields !== N + 1) throw malformed(`row ${count} has ${fields} fields, expected ${N + 1}`)
      let j = i + 2
      for (let f = 0; f <= N && j <= n; f++) j += j + 4 > n ? 4 : 4 + Math.max(0, sv.getInt32(j))
      if (j > n) break
      i += 2
      if (sv.getInt32(i) !== 8) throw malformed(`row ${count}: timestamp not 8 bytes`)
      if (!ts.decode(sv, i + 4)) { this.#declined = true; this.#done = true; break }
      i += 12
      if (count === limit) {
        this.#nextTime = ts.text()
        this.#done = true
        break
      }
      if (p + fixed > out.length) {
        out = grow(out, p, fixed)
        dv = viewOf(out)
      }
      if (count > 0) out[p++] = 0x2c
      p = put(dv, out, p, this.#prefix)
      p = ts.write(out, p)
      out[p++] = QUOTE
      for (let f = 0; f < N; f++) {
        const len = sv.getInt32(i)
        i += 4
        const room = (len < 0 ? 0 : len * GROWTH) + NUMBER_ROOM + KEYS_LENGTH
        if (p + room > out.length) {
          out = grow(out, p, room)
          dv = viewOf(out)
        }
        p = put(dv, out, p, KEYS[f] as Piece)
        if (len === -1) {
          out[p++] = 0x6e; out[p++] = 0x75; out[p++] = 0x6c; out[p++] = 0x6c
          continue
        }
        const kind = KIND[f]
        if (kind === Kind.Float) {
          if (len !== 8) throw malformed(`row ${count}: float8 of ${len} bytes`)
          p = writeFloat(out, p, sv.getFloat64(i))
        } else if (kind === Kind.Int) {
          if (len !== 4) throw malformed(`row ${count}: int4 of ${len} bytes`)
          const v = sv.getInt32(i)
          if (v === -2_147_483_648) p += out.write('-2147483648', p, 'latin1')
          else {
            if (v < 0) out[p++] = 0x2d
            p = writeInt(out, p, v < 0 ? -v : v, 0)
          }
        } else {
          p = writeText(out, p, src, i, i + len)
        }
        i += len
      }
      out[p++] = 0x7d
      count++
      if (count === limit) this.#lastTime = ts.text()
    }
    if (!this.#done && i < n) this.#rest = src.subarray(i)
    this.#out = out
    this.#dv = dv
    this.#p = p
    this.#count = count
  }

  /** The page once every chunk was pushed; null when a timestamp is outside years 1 to 9999. */
  end (): CopyJsonPage | null {
    if (this.#declined) return null
    if (!this.#done) throw malformed(`cut after row ${this.#count}`)
    const count = this.#count
    const lastTime = count > 0 && count < this.#limit ? this.#ts.text() : this.#lastTime
    return { body: this.#out.subarray(0, this.#p), count, lastTime, nextTime: this.#nextTime }
  }
}

/** CopyJsonEncoder over one buffer holding the whole COPY output. */
export function copyRowsToJson (src: Buffer, idJson: string, limit: number): CopyJsonPage | null {
  const e = new CopyJsonEncoder(idJson, limit)
  e.push(src)
  return e.end()
}

/**
 * readPage against PostgreSQL, property-based: for random machines' data (groups of equal
 * timestamps of random sizes, identical rows, NULLs, texts that sort differently in byte order and
 * in a locale, -0, NaN) and random page sizes, following the cursor returns every row exactly
 * once, in time order, each page at most `limit` rows; rows inserted between pages never make an
 * existing row repeat or vanish. readPageJson (binary COPY straight to JSON bytes) gives the bytes
 * readPage's rows give through rowJson, for values chosen to break a conversion (numbers near the
 * digit writer's bounds, timestamps from year 1 to 9999, texts that need escapes).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import type pg from 'pg'
import { readPage, readPageJson, type Page } from '../../src/api/reading-pages.js'
import { rowJson } from '../../src/api/reading-json.js'
import { PageEncoder } from '../../src/api/page-encoder.js'
import { createTestEnv, migratedPool, type TestEnv } from '../helpers/test-env.js'

interface Row { t: number, temp: number, x: number | null, state: string | null, line: number }

/** Few values each, so that groups hold runs of identical rows longer than a page. */
const rowArb = fc.record({
  t: fc.integer({ min: 0, max: 3 }),
  temp: fc.constantFrom(20, -0, 0, Number.NaN),
  x: fc.option(fc.constant(1), { nil: null }),
  state: fc.option(fc.constantFrom('a', 'B', 'ü', ''), { nil: null }),
  line: fc.integer({ min: 0, max: 1 }),
})

const iso = (t: number): string => new Date(Date.UTC(2025, 6, 13, 10) + t).toISOString()
/** µs since 1970 as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (years 1 to 9999). */
const isoMicros = (us: bigint): string => {
  const ms = us >= 0n ? us / 1000n : -((-us + 999n) / 1000n)
  return new Date(Number(ms)).toISOString().slice(0, 23) + String(us - ms * 1000n).padStart(3, '0') + 'Z'
}
/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z in µs since 1970. */
const YEAR_1_US = -62_135_596_800_000_000n
const YEAR_9999_END_US = 253_402_300_799_999_999n

describe('readPage', () => {
  let t: TestEnv
  let db: pg.Pool
  let run = 0

  before(async () => {
    t = await createTestEnv('PAGES')
    db = await migratedPool(t)
  })
  after(async () => {
    await db?.end()
    await t?.cleanup()
  })

  const insert = async (machine: string, rows: readonly Row[], base: number): Promise<void> => {
    if (rows.length === 0) return
    await db.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, x_pos_mm, machine_state, active_program_line)
      SELECT t, $1, temp, 1000, x, s, l FROM unnest($2::timestamptz[], $3::float8[], $4::float8[], $5::text[], $6::int[]) AS u(t, temp, x, s, l)`,
    [machine, rows.map((r) => iso(r.t)), rows.map((r) => String(r.temp)), rows.map((r) => r.x), rows.map((r) => r.state), rows.map((r) => base + r.line)])
  }

  it('every row once, pages bounded, also with rows arriving between pages', async () => {
    await fc.assert(fc.asyncProperty(fc.array(rowArb, { maxLength: 80 }), fc.integer({ min: 1, max: 8 }), fc.array(rowArb, { maxLength: 4 }),
      async (rows, limit, arriving) => {
        const machine = `M${run++}`
        await insert(machine, rows, 0)
        // Equal rows are indistinguishable: compare multisets of what the pages show.
        const shown: string[] = []
        let cursor: Page['next'] = null
        let pages = 0
        for (;;) {
          const page: Page = cursor === null
            ? await readPage(db, machine, '-infinity', null, 0, 'infinity', limit)
            : await readPage(db, machine, cursor.t, cursor.k, cursor.n, 'infinity', limit)
          assert.ok(page.rows.length <= limit, `page of ${page.rows.length} > ${limit}`)
          const times = page.rows.map((r) => r[0])
          assert.deepEqual([...times].sort(), times, 'time order')
          shown.push(...page.rows.filter((r) => (r[9] as number) < 100_000).map((r) => `${r[0]}|${r[1]}|${r[3]}|${r[8]}|${r[9]}`))
          if (page.next === null) break
          cursor = page.next
          if (pages++ === 1) await insert(machine, arriving, 100_000)
          assert.ok(pages < 1000)
        }
        const want = rows.map((r) => `${iso(r.t).replace(/Z$/, '000Z')}|${Object.is(r.temp, -0) ? 0 : r.temp}|${r.x}|${r.state}|${r.line}`)
        assert.deepEqual([...shown].sort(), want.sort())
      }), { numRuns: Number(process.env.FUZZ_RUNS ?? 60) })
  })

  /** Numbers whose text PostgreSQL and String() may write differently, and texts that need escapes. */
  const awkward = fc.record({
    // Near one instant (groups of equal timestamps), or anywhere in years 1 to 9999.
    t: fc.oneof(fc.integer({ min: 0, max: 400 }).map(iso), fc.bigInt({ min: YEAR_1_US, max: YEAR_9999_END_US }).map(isoMicros),
      fc.constantFrom(YEAR_1_US, YEAR_9999_END_US, 0n, -1n, 951_782_400_000_000n).map(isoMicros)),
    temp: fc.oneof(fc.double(), fc.constantFrom(-0, 0, Number.NaN, Infinity, -Infinity, 1e20, 1e21, 1e15, 123456789012345680, 1e-5, 1e-7, 5e-324, 0.1, -2.5e-4,
      0.1 + 0.2, 1e-6, -1e-6, 1.5e-6, 2_147_483.647, 214_748.3648, -214_748.3647, 2_147_483_647, 2_147_483_648, 4_503_599_627_370_495.5, 4_503_599_627_370_496,
      9.999999, 123.456789, 857.286, -0.091, 37.11), fc.integer({ min: -1e9, max: 1e9 }).map((x) => x / 1000)),
    x: fc.option(fc.double({ noNaN: true }), { nil: null }),
    state: fc.option(fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('\\N', '\\', '"', '\t\n\r\b\f\v\u0001\u001f\u007f', 'a\tb', 'ü€😀', '\\x41')), { nil: null }),
    line: fc.integer({ min: -2_147_483_648, max: 2_147_483_647 }),
  })

  it('readPageJson: the same bytes as readPage through rowJson, page by page', async () => {
    const encoder = new PageEncoder(0)
    let compared = 0
    await fc.assert(fc.asyncProperty(fc.array(awkward, { maxLength: 60 }), fc.integer({ min: 1, max: 25 }), async (rows, limit) => {
      const machine = `J"\\${run++}ü`
      const clean = rows.map((r) => ({ ...r, state: r.state === null ? null : r.state.replaceAll('\u0000', '') }))
      await db.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, x_pos_mm, machine_state, active_program_line)
        SELECT t, $1, temp, 1000, x, s, l FROM unnest($2::timestamptz[], $3::float8[], $4::float8[], $5::text[], $6::int[]) AS u(t, temp, x, s, l)`,
      [machine, clean.map((r) => r.t), clean.map((r) => String(r.temp)), clean.map((r) => r.x === null ? null : String(r.x)), clean.map((r) => r.state), clean.map((r) => r.line)])
      const idJson = JSON.stringify(machine)
      let after = '-infinity'
      for (let pages = 0; ; pages++) {
        assert.ok(pages < 1000)
        const fast = await readPageJson(db, encoder, machine, idJson, after, 'infinity', limit)
        const slow = await readPage(db, machine, after, null, 0, 'infinity', limit)
        if (fast === null) {
          // Only when the page would end inside a group of equal timestamps.
          assert.ok(slow.next !== null && slow.next.k !== null, 'readPageJson declined a page that ends between groups')
          break
        }
        compared += fast.count
        assert.equal(fast.body.toString(), slow.rows.map((r) => rowJson(idJson, r)).join(','))
        assert.equal(fast.count, slow.rows.length)
        assert.deepEqual(fast.next, slow.next)
        if (fast.next === null) break
        after = fast.next.t
      }
    }), { numRuns: Number(process.env.FUZZ_RUNS ?? 60) })
    assert.ok(compared >= 100, `only ${compared} rows went through readPageJson`)
  })

  it('readPageJson on a page worker: the same bytes for pages large enough to be moved to it', async () => {
    const encoder = new PageEncoder(1)
    try {
      const machine = 'WORKER-1'
      await db.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, x_pos_mm, machine_state, active_program_line)
        SELECT timestamptz '2025-07-13 10:00:00Z' + g * interval '1 ms', $1, g / 7.0, 1000, CASE WHEN g % 5 = 0 THEN NULL ELSE -g * 1e-6 END,
          CASE WHEN g % 3 = 0 THEN 'RUN "ü\\' ELSE NULL END, g FROM generate_series(1, 5000) g`, [machine])
      const idJson = JSON.stringify(machine)
      let after = '-infinity'
      let pages = 0
      for (;;) {
        const fast = await readPageJson(db, encoder, machine, idJson, after, 'infinity', 2_000)
        const slow = await readPage(db, machine, after, null, 0, 'infinity', 2_000)
        assert.ok(fast !== null)
        assert.ok(Buffer.isBuffer(fast.body))
        assert.equal(fast.body.toString(), slow.rows.map((r) => rowJson(idJson, r)).join(','))
        assert.deepEqual(fast.next, slow.next)
        pages++
        if (fast.next === null) break
        after = fast.next.t
      }
      assert.equal(pages, 3)
    } finally {
      await encoder.close()
    }
  })

  it('readPageJson declines timestamps outside years 1 to 9999 (readPage answers those pages)', async () => {
    const encoder = new PageEncoder(0)
    const idJson = JSON.stringify('OUT-OF-RANGE')
    for (const [n, time] of ['infinity', '4713-11-24 00:00:00Z BC', '10000-01-01 00:00:00Z', '0001-12-31 23:59:59.999999Z BC', '294276-12-31 23:59:59Z'].entries()) {
      const machine = `OUT-${n}`
      await db.query('INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed) VALUES ($1, $2, 1.5, 1000), (\'2025-07-13T10:00:00Z\', $2, 2.5, 1000)', [time, machine])
      assert.equal(await readPageJson(db, encoder, machine, idJson, '-infinity', 'infinity', 10), null, time)
      assert.equal((await readPage(db, machine, '-infinity', null, 0, 'infinity', 10)).rows.length, 2, time)
      // A window without the odd timestamp is still answered from COPY.
      const before = time.includes('BC')
      const page = await readPageJson(db, encoder, machine, idJson, before ? '2025-07-12T00:00:00Z' : '-infinity', before ? 'infinity' : '2025-07-14T00:00:00Z', 10)
      assert.equal(page?.count, 1, time)
    }
  })
})

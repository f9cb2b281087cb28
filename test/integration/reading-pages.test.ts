/**
 * readPage against PostgreSQL, property-based: for random machines' data (groups of equal
 * timestamps of random sizes, identical rows, NULLs, texts that sort differently in byte order and
 * in a locale, -0, NaN) and random page sizes, following the cursor returns every row exactly
 * once, in time order, each page at most `limit` rows; rows inserted between pages never make an
 * existing row repeat or vanish.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import type pg from 'pg'
import { readPage, type Page } from '../../src/api/reading-pages.js'
import { readingJson } from '../../src/api/reading-json.js'
import type { ReadingRow } from '../../src/store/readings.js'
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

/** The API writes NaN bare (as String(NaN)), as it always has; JSON.parse needs it quoted. */
const parseReadings = (page: Page): Array<Record<string, unknown>> =>
  JSON.parse(`[${page.parts.join(',')}]`.replace(/:NaN([,}])/g, ':"NaN"$1'), (_, v: unknown) => v === 'NaN' ? Number.NaN : v) as Array<Record<string, unknown>>

const iso = (t: number): string => new Date(Date.UTC(2025, 6, 13, 10) + t).toISOString()

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
            ? await readPage(db, machine, JSON.stringify(machine), '-infinity', null, 0, 'infinity', limit)
            : await readPage(db, machine, JSON.stringify(machine), cursor.t, cursor.k, cursor.n, 'infinity', limit)
          const rs = parseReadings(page)
          assert.ok(rs.length <= limit, `page of ${rs.length} > ${limit}`)
          assert.equal(page.count, rs.length)
          const times = rs.map((r) => r.timestamp)
          assert.deepEqual([...times].sort(), times, 'time order')
          shown.push(...rs.filter((r) => (r.active_program_line as number) < 100_000)
            .map((r) => `${r.timestamp}|${r.temperature}|${r.x_pos_mm}|${r.machine_state}|${r.active_program_line}`))
          if (page.next === null) break
          cursor = page.next
          if (pages++ === 1) await insert(machine, arriving, 100_000)
          assert.ok(pages < 1000)
        }
        const want = rows.map((r) => `${iso(r.t).replace(/Z$/, '000Z')}|${Object.is(r.temp, -0) ? 0 : r.temp}|${r.x}|${r.state}|${r.line}`)
        assert.deepEqual([...shown].sort(), want.sort())
      }), { numRuns: Number(process.env.FUZZ_RUNS ?? 60) })
  })

  it('pages written from PostgreSQL\'s text are byte for byte readingJson of the values', async () => {
    const dbl = fc.double({ noDefaultInfinity: false })
    const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(a, { nil: null })
    const arb = fc.tuple(dbl, dbl, opt(dbl), opt(dbl), opt(dbl), opt(dbl), opt(dbl),
      opt(fc.string({ unit: 'grapheme', maxLength: 6 }).filter((x) => !x.includes('\u0000'))),
      opt(fc.integer({ min: -2_147_483_648, max: 2_147_483_647 })), opt(dbl))
    await fc.assert(fc.asyncProperty(fc.array(arb, { minLength: 1, maxLength: 20 }), async (vals) => {
      const machine = `J"\\${run++}`
      const rows: ReadingRow[] = vals.map((v, i) => [iso(i).replace(/Z$/, '000Z'), ...v] as ReadingRow)
      await db.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, x_pos_mm, y_pos_mm, z_pos_mm, feed_rate_actual,
          spindle_load_percent, machine_state, active_program_line, total_power_kw)
        SELECT (r->>0)::timestamptz, $1, (r->>1)::float8, (r->>2)::float8, (r->>3)::float8, (r->>4)::float8, (r->>5)::float8, (r->>6)::float8,
          (r->>7)::float8, r->>8, (r->>9)::int4, (r->>10)::float8 FROM jsonb_array_elements($2::jsonb) r`,
      [machine, JSON.stringify(rows.map((r) => r.map((x) => typeof x === 'number' ? String(x) : x)))])
      const idJson = JSON.stringify(machine)
      const page = await readPage(db, machine, idJson, '-infinity', null, 0, 'infinity', 100)
      assert.equal(page.parts.join(','), rows.map((r) => readingJson(idJson, r)).join(','))
    }), { numRuns: Number(process.env.FUZZ_RUNS ?? 60) })
  })

  it('2,000-row pages ending inside a group of equal timestamps keep every reading, in order', async () => {
    const machine = `BIG${run++}`
    // 2,500 readings, 1 ms apart, except that readings 1,990..2,009 share one timestamp.
    const t = (i: number): number => i >= 1990 && i < 2010 ? 1990 : i
    const rows: ReadingRow[] = Array.from({ length: 2500 }, (_, i) =>
      [iso(t(i)).replace(/Z$/, '000Z'), i / 10, 1000 + i, null, -i / 4, null, null, null, i % 3 === 0 ? 'RUNNING' : null, i, 1.5] as ReadingRow)
    await db.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, y_pos_mm, machine_state, active_program_line, total_power_kw)
      SELECT t, $1, a, b, c, s, l, 1.5 FROM unnest($2::timestamptz[], $3::float8[], $4::float8[], $5::float8[], $6::text[], $7::int[]) AS u(t, a, b, c, s, l)`,
    [machine, rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => r[4]), rows.map((r) => r[8]), rows.map((r) => r[9])])
    const idJson = JSON.stringify(machine)
    const shown: string[] = []
    let cursor: Page['next'] = null
    for (;;) {
      const page: Page = cursor === null
        ? await readPage(db, machine, idJson, '-infinity', null, 0, 'infinity', 2000)
        : await readPage(db, machine, idJson, cursor.t, cursor.k, cursor.n, 'infinity', 2000)
      assert.ok(page.count <= 2000)
      if (page.count > 0) shown.push(page.parts.join(','))
      if (page.next === null) break
      cursor = page.next
    }
    const got = (JSON.parse(`[${shown.join(',')}]`) as Array<{ active_program_line: number }>).map((r) => r.active_program_line)
    assert.deepEqual([...got].sort((a, b) => a - b), rows.map((r) => r[9]))
    // Outside the group, the order is the time order, and the JSON is readingJson's.
    const all = shown.join(',')
    assert.ok(all.startsWith(rows.slice(0, 1990).map((r) => readingJson(idJson, r)).join(',')))
    assert.ok(all.endsWith(rows.slice(2010).map((r) => readingJson(idJson, r)).join(',')))
  })
})

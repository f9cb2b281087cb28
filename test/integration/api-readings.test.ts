/**
 * The readings API against a running service with real data (the envelope of /api/v2; the bare
 * arrays of /api/v1 are checked in api-compat.test.ts): keyset pages (every row exactly
 * once, also with equal timestamps and rows arriving meanwhile), RFC 3339 parameters to the
 * microsecond, aggregates, latest-by-timestamp with out-of-order arrival through NATS, streaming
 * of large pages, clients that leave mid-response, and 200 concurrent requests during ingest.
 */
import assert from 'node:assert/strict'
import { connect as netConnect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { Service } from '../../src/service.js'
import { ApiClient, assertNo5xx } from '../helpers/api-client.js'
import { json, reading } from '../helpers/payloads.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, prefill, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'

interface Page { count: number, has_more: boolean, next_cursor: string | null, data: Array<Record<string, unknown>>, start_time: string, end_time: string }

const T0 = '2025-07-13T10:00:00Z'

/** Inserts rows for `machine`: one per entry of `micros` (µs after T0), program line = index + base. */
async function insertAt (t: TestEnv, machine: string, micros: readonly number[], base = 0): Promise<void> {
  await t.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, machine_state, active_program_line)
    SELECT $2::timestamptz + (u * interval '1 microsecond'), $1, 20.5, 1000, 'RUNNING', $4 + o::int - 1
    FROM unnest($3::bigint[]) WITH ORDINALITY AS x(u, o)`, [machine, T0, micros, base])
}

async function pageAll (c: ApiClient, path: string, limit: number, between?: () => Promise<void>): Promise<{ lines: number[], pages: number }> {
  const lines: number[] = []
  let cursor: string | null = null
  let pages = 0
  for (;;) {
    const r = await c.get(`${path}${path.includes('?') ? '&' : '?'}limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`)
    assert.equal(r.status, 200, r.text)
    const p = r.json<Page>()
    pages++
    assert.equal(p.count, p.data.length)
    assert.ok(p.count <= limit, `a page holds at most limit (${limit}) rows, got ${p.count}`)
    for (const row of p.data) lines.push(row.active_program_line as number)
    const ts = p.data.map((row) => row.timestamp as string)
    assert.deepEqual([...ts].sort(), ts, 'rows in time order')
    if (!p.has_more) { assert.equal(p.next_cursor, null); break }
    assert.equal(typeof p.next_cursor, 'string')
    cursor = p.next_cursor
    await between?.()
    assert.ok(pages < 10_000)
  }
  return { lines, pages }
}

describe('readings API', () => {
  let t: TestEnv
  let service: Service
  let c: ApiClient
  const range = `start_time=${T0}&end_time=2025-07-13T11:00:00Z`

  before(async () => {
    t = await createTestEnv('APIREAD')
    service = await startService(t, { CNC_INGEST_LINGER_MS: '10' })
    c = new ApiClient(`http://127.0.0.1:${service.httpPort}`)
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
  })

  it('pages return every row exactly once across equal timestamps, with rows arriving meanwhile', async () => {
    // 3,000 rows in groups of 1–7 equal timestamps, plus one group of 25 (larger than the limit).
    const micros: number[] = []
    for (let g = 0; micros.length < 3000; g++) for (let k = 0; k < (g % 7) + 1; k++) micros.push(g * 1000 + 1)
    for (let k = 0; k < 25; k++) micros.push(5_000_000)
    await insertAt(t, 'DUP', micros)
    const expected = micros.map((_, i) => i)
    for (const limit of [1, 7, 10, 1000, 10_000]) {
      const { lines } = await pageAll(c, `/api/v2/machines/DUP/data?${range}`, limit)
      assert.deepEqual([...lines].sort((a, b) => a - b), expected, `limit ${limit}: every row once`)
    }
    // New rows while paging (later and earlier than the cursor, and equal to rows already seen)
    // do not make existing rows repeat or vanish.
    let extra = 0
    const { lines } = await pageAll(c, `/api/v2/machines/DUP/data?${range}`, 50, async () => {
      await insertAt(t, 'DUP', [1, 2_000_000 + extra, 3_000_000_000], 100_000 + extra * 3)
      extra++
    })
    const old = lines.filter((l) => l < 100_000).sort((a, b) => a - b)
    assert.deepEqual(old, expected, 'every pre-existing row exactly once while rows arrive')
    assert.equal(new Set(lines).size, lines.length, 'no row twice')
  })

  it('takes RFC 3339 with offsets and fractional seconds, to the microsecond, inclusive bounds', async () => {
    await insertAt(t, 'FRAC', [149, 150, 151, 3_600_000_000 + 149, 3_600_000_000 + 150, 3_600_000_000 + 151])
    const want = async (q: string, lines: number[]) => {
      const r = await c.get(`/api/v2/machines/FRAC/data?${q}`)
      assert.equal(r.status, 200, `${q}: ${r.text}`)
      assert.deepEqual(r.json<Page>().data.map((d) => d.active_program_line), lines, q)
    }
    await want('start_time=2025-07-13T10:00:00.000150Z&end_time=2025-07-13T11:00:00.000150Z', [1, 2, 3, 4])
    await want('start_time=2025-07-13T12:00:00.000150%2B02:00&end_time=2025-07-13T06:00:00.00015-05:00', [1, 2, 3, 4])
    await want('start_time=2025-07-13T12:00:00.000150+02:00&end_time=2025-07-13t11:00:00.0001504z', [1, 2, 3, 4])
    await want('start_time=2025-07-13T10:00:00.0001505Z&end_time=2025-07-13T10:00:00.000151Z', [2])
    await want('start_time=2025-07-13T15:30:00.000151%2B05:30&end_time=2025-07-13T15:30:00.000151%2B05:30', [2])
    const r = await c.get('/api/v2/machines/FRAC/data?start_time=2025-07-13T10:00:00.000150Z&limit=1')
    assert.equal(r.json<Page>().data[0]?.timestamp, '2025-07-13T10:00:00.000150Z', 'timestamps keep microseconds')
    const dayAhead = Date.parse(r.json<Page>().end_time) - Date.now()
    assert.ok(dayAhead > 23 * 3_600_000 && dayAhead <= 24 * 3_600_000, 'start_time only: up to now + 24 h (the original)')
    for (const [q, name] of [
      ['start_time=2025-07-13T10:00:00', 'start_time'],
      ['end_time=13/07/2025', 'end_time'],
      ['start_time=2025-02-30T10:00:00Z', 'start_time'],
      ['start_time=2025-07-13T10:00:00Z&end_time=2025-07-13T09:00:00Z', 'start_time'],
      ['limit=0', 'limit'],
      ['limit=10001', 'limit'],
      ['limit=abc', 'limit'],
    ] as const) {
      const bad = await c.get(`/api/v1/machines/FRAC/data?${q}`)
      assert.equal(bad.status, 400, q)
      const err = bad.json<{ error: { code: string, message: string } }>().error
      assert.match(err.message, new RegExp(name), `${q}: message names ${name}`)
      if (name !== 'limit' && !q.includes('09:00')) assert.match(err.message, /RFC 3339.*2025-07-13T10:00:00Z/, 'shows the format')
    }
    const wide = await c.get('/api/v1/machines/FRAC/data?start_time=2020-01-01T00:00:00Z&end_time=2025-01-01T00:00:00Z')
    assert.equal(wide.status, 400)
    assert.equal(wide.json<{ error: { code: string } }>().error.code, 'range_too_large')
    const defaults = await c.get('/api/v2/machines/FRAC/data')
    assert.equal(defaults.status, 200)
    const d = defaults.json<Page>()
    assert.equal(d.start_time, '0001-01-01T00:00:00.000000Z', 'default window: all data (the original)')
    assert.equal(d.count, 6)
    assert.equal((await c.get('/api/v2/machines/FRAC/data?end_time=2025-07-13T10:00:00.000150Z')).json<Page>().count, 2, 'end_time only: from year 1')
    assert.equal((await c.get('/api/v2/machines/NOBODY/data')).json<Page>().count, 0, 'unknown machine: 200, empty list')
    for (const q of ['start_time=9999-12-31T23:30:00Z', 'end_time=0001-01-01T00:30:00Z', 'start_time=0001-01-01T00:00:00Z&end_time=0001-01-01T00:00:00Z',
      'start_time=9999-12-31T23:59:59.999999Z&bucket=1m&agg=last']) {
      assert.equal((await c.get(`/api/v1/machines/FRAC/data?${q}`)).status, 200, `edge of the calendar: ${q}`)
    }
    for (const q of ['end_time=0001-01-01T00:00:00%2B14:00', 'start_time=9999-12-31T23:59:59-14:00']) {
      assert.equal((await c.get(`/api/v1/machines/FRAC/data?${q}`)).status, 400, `beyond the calendar: ${q}`)
    }
  })

  it('rejects cursors it did not make', async () => {
    const good = (await c.get(`/api/v2/machines/DUP/data?${range}&limit=5`)).json<Page>().next_cursor
    assert.ok(good !== null)
    const forged = (v: Record<string, unknown>): string => Buffer.from(JSON.stringify({ v: 2, m: 'DUP', t: T0, k: null, n: 0, s: T0, e: T0, ...v })).toString('base64url')
    for (const cursor of ['x', '!!!', Buffer.from('{"v":1}').toString('base64url'), Buffer.from('[1]').toString('base64url'), 'A'.repeat(2100),
      forged({ k: 'zz' }), forged({ k: null, n: 3 }), forged({ n: -1 }), forged({ n: 1.5 }), forged({ t: 'yesterday' }), forged({ v: 3 }),
      forged({ k: Array(10).fill('abc') }), forged({ k: Array(9).fill('1') }), forged({ k: [...Array(7).fill('1'), 'S', '99999999999', '1'] }),
      forged({ k: [...Array(7).fill('1'), 'S', '1.5', '1'] }), forged({ k: [...Array(7).fill('1'), 7, '1', '1'] }),
      forged({ k: [...Array(7).fill('1'), 'a\u0000', '1', '1'] })]) {
      const r = await c.get(`/api/v2/machines/DUP/data?cursor=${encodeURIComponent(cursor)}`)
      assert.equal(r.status, 400, cursor)
      assert.equal(r.json<{ error: { code: string } }>().error.code, 'invalid_cursor')
    }
    assert.equal((await c.get(`/api/v2/machines/FRAC/data?cursor=${good}`)).status, 400, 'a cursor of another machine')
    assert.equal((await c.get(`/api/v2/machines/DUP/data?cursor=${forged({})}`)).status, 200, 'the forging itself is well-formed')
    const inGroup = forged({ k: ['-1.5e-7', 'Infinity', null, null, null, null, null, "it's ü?", '-2147483648', 'NaN'], n: 2 })
    const g = await c.get(`/api/v2/machines/DUP/data?cursor=${inGroup}`)
    assert.equal(g.status, 200, `any well-formed key is a position: ${g.text}`)
    const v1 = Buffer.from(JSON.stringify({ v: 1, m: 'DUP', a: T0, s: T0, e: '2025-07-13T11:00:00Z' })).toString('base64url')
    assert.equal((await c.get(`/api/v2/machines/DUP/data?cursor=${v1}`)).status, 200, 'cursors of the previous release still work')
  })

  it('aggregates per bucket, widening to max_points', async () => {
    const micros = Array.from({ length: 600 }, (_, i) => i * 1_000_000) // 10 minutes, 1 Hz
    await insertAt(t, 'AGG', micros)
    const q = 'start_time=2025-07-13T10:00:00Z&end_time=2025-07-13T10:09:59.999999Z'
    for (const agg of ['avg', 'min', 'max', 'last'] as const) {
      const r = await c.get(`/api/v1/machines/AGG/data?${q}&bucket=1m&agg=${agg}`)
      assert.equal(r.status, 200, r.text)
      const body = r.json<{ bucket_seconds: number, data: Array<Record<string, unknown>> }>()
      assert.equal(body.bucket_seconds, 60)
      assert.equal(body.data.length, 10)
      assert.equal(body.data[0]?.bucket, '2025-07-13T10:00:00.000000Z')
      assert.equal(body.data[0]?.count, 60)
      if (agg === 'last') assert.equal(body.data[1]?.active_program_line, 119)
    }
    const week = await c.get('/api/v1/machines/AGG/data?start_time=2025-07-07T00:00:00Z&end_time=2025-07-14T00:00:00Z&bucket=1m&agg=max&max_points=500')
    assert.equal(week.status, 200)
    const w = week.json<{ bucket_seconds: number, requested_bucket_seconds: number, count: number }>()
    assert.equal(w.requested_bucket_seconds, 60)
    assert.ok(w.bucket_seconds >= 604_800 / 499, `widened to ${w.bucket_seconds}s`)
    for (const bad of ['bucket=1m', 'agg=avg', 'bucket=0m&agg=avg', 'bucket=1y&agg=avg', 'bucket=1m&agg=sum', 'bucket=1m&agg=avg&max_points=1']) {
      assert.equal((await c.get(`/api/v1/machines/AGG/data?${q}&${bad}`)).status, 400, bad)
    }
  })

  it('latest is the greatest timestamp, not the last to arrive (through NATS)', async () => {
    const order = [5, 9, 2, 7, 1]
    for (const n of order) await prefill(t, [json(reading('OOO', n))])
    await waitSettled(t)
    const r = await c.get('/api/v1/machines/OOO/latest')
    assert.equal(r.status, 200)
    const latest = r.json()
    assert.equal(latest.active_program_line, 9)
    assert.equal(latest.timestamp, '2025-07-13T10:00:00.900000Z')
    assert.equal(latest.machine_id, 'OOO')
    assert.equal((await c.get('/api/v1/machines/NOBODY/latest')).status, 404)
  })

  it('streams a 10,000-row page and survives clients that leave mid-response', async () => {
    await insertAt(t, 'BIG', Array.from({ length: 12_000 }, (_, i) => i * 100))
    const r = await c.get(`/api/v2/machines/BIG/data?${range}&limit=10000`)
    assert.equal(r.status, 200)
    const p = r.json<Page>()
    assert.equal(p.count, 10_000)
    assert.equal(p.has_more, true)
    const port = service.httpPort
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve, reject) => {
        const sock = netConnect(port, '127.0.0.1', () => {
          sock.write(`GET /api/v1/machines/BIG/data?${range}&limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n`)
        })
        sock.once('data', () => { sock.destroy(); resolve() })
        sock.once('error', reject)
      })
    }
    // Paused readers: the server must hold, not buffer without bound, and not crash when they go.
    const paused = Array.from({ length: 5 }, () => new Promise<void>((resolve) => {
      const sock = netConnect(port, '127.0.0.1', () => sock.write(`GET /api/v1/machines/BIG/data?${range}&limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n`))
      sock.once('data', () => { sock.pause(); setTimeout(() => { sock.destroy(); resolve() }, 200) })
    }))
    await Promise.all(paused)
    assert.equal((await c.get('/livez')).status, 200)
    const again = await c.get(`/api/v2/machines/BIG/data?${range}&limit=10000`)
    assert.equal(again.json<Page>().count, 10_000)
    const bare = await c.get(`/api/v1/machines/BIG/data?${range}&limit=10000`)
    assert.equal(bare.json<unknown[]>().length, 10_000, 'the bare array streams too')
    assert.match(bare.headers.get('link') ?? '', /rel="next"/, 'with its headers')
  })

  it('answers 200 concurrent requests while ingest runs', async () => {
    const payloads: string[] = []
    for (let n = 0; n < 20_000; n++) payloads.push(json(reading(`LIVE-${n % 10}`, n)))
    const publishing = prefill(t, payloads)
    await waitFor('ingest to start', async () => Number((await t.query<{ n: string }>("SELECT count(*) AS n FROM sensor_data WHERE machine_id LIKE 'LIVE-%'"))[0]?.n) > 0)
    const paths = ['/api/v1/machines', `/api/v1/machines/BIG/data?${range}&limit=500`, '/api/v1/machines/LIVE-1/latest', '/api/v1/machines/LIVE-2/data?start_time=2025-07-13T10:00:00Z&limit=100', '/readyz', '/api/v1/rejected']
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => c.get(paths[i % paths.length] as string)))
    assert.deepEqual(results.map((r, i) => [r.status, paths[i % paths.length], r.text.slice(0, 200)]).filter(([s]) => s !== 200), [])
    await publishing
    await waitSettled(t)
  })

  after(() => {
    assertNo5xx(c)
    c.assertDocumented()
  })
})

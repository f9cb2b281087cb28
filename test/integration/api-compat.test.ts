/**
 * A client written for the original API works unchanged (issue 15): the original publishers'
 * messages (Go's json.Marshal of SensorData, nanosecond timestamps, the stress script's malformed
 * message) go through NATS, and every answer is decoded the way Go decodes it into the original
 * SensorData/Machine structs (helpers/go-shapes.ts). Also: paging in the Link header, the
 * original window defaults, pages bounded inside groups of equal timestamps, POST with the full
 * struct and no content type, and HEAD on every GET route.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { jetstream } from '@nats-io/jetstream'
import { parseRfc3339BigMicros } from '../../src/parse/timestamp.js'
import type { Service } from '../../src/service.js'
import { ApiClient, assertNo5xx, type ApiResponse } from '../helpers/api-client.js'
import { GO_ZERO_TIME, decodeMachine, decodeMachineList, decodeSensorDataList, goMarshalMachine, goMarshalSensorData, goTimeJson, type SensorData } from '../helpers/go-shapes.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, waitSettled, type TestEnv } from '../helpers/test-env.js'

const enc = new TextEncoder()
const HOUR_MS = 3_600_000

/** The target of `Link: <…>; rel="next"` (RFC 8288), resolved against the request's URL. */
function nextLink (r: ApiResponse, base: string): string | null {
  const link = r.headers.get('link')
  if (link === null) return null
  const m = /<([^>]*)>\s*;\s*rel="?next"?/.exec(link)
  assert.ok(m !== null, `a Link header with rel="next": ${link}`)
  const u = new URL(m[1] as string, base)
  return u.pathname + u.search
}

/** Follows rel="next" from `path`; checks every page's size against limit and X-Result-Count. */
async function followAll (c: ApiClient, path: string, limit: number): Promise<{ rows: SensorData[], pages: number }> {
  const rows: SensorData[] = []
  let pages = 0
  for (let next: string | null = path; next !== null; pages++) {
    const r = await c.get(next)
    assert.equal(r.status, 200, r.text)
    const page = decodeSensorDataList(r.text)
    assert.ok(page.length <= limit, `page ${pages}: ${page.length} rows > limit ${limit}`)
    assert.equal(r.headers.get('x-result-count'), String(page.length))
    rows.push(...page)
    next = nextLink(r, c.base + next)
    assert.ok(pages < 10_000)
  }
  return { rows, pages }
}

const micros = (iso: string): bigint => parseRfc3339BigMicros(iso) ?? assert.fail(`not RFC 3339: ${iso}`)
const key = (d: SensorData): string => `${d.MachineID}|${micros(d.Timestamp)}|${d.ActiveProgramLine}|${d.Temperature}|${d.MachineState}`

describe('a client of the original API', () => {
  let t: TestEnv
  let service: Service
  let c: ApiClient
  const now = Date.now()

  before(async () => {
    t = await createTestEnv('COMPAT')
    service = await startService(t, { CNC_INGEST_LINGER_MS: '10' })
    c = new ApiClient(`http://127.0.0.1:${service.httpPort}`)
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
  })

  it('what the original publishers send comes back as []SensorData, exactly', async () => {
    const js = jetstream(t.nc)
    const sent: SensorData[] = []
    const reading = (machine: string, n: number, ms: number): SensorData => ({
      MachineID: machine,
      Temperature: 45.5 + n / 8,
      SpindleSpeed: 1200,
      Timestamp: goTimeJson(ms, (n * 7919) % 1_000_000),
      XPosMM: 120.25,
      YPosMM: 80.5,
      ZPosMM: -15.75,
      FeedRateActual: 250,
      SpindleLoadPercent: 35.2,
      MachineState: n % 5 === 0 ? '' : 'RUNNING',
      ActiveProgramLine: n,
      TotalPowerKW: 7.8,
    })
    sent.push(reading('CNC-001', 42, now - 10 * 60_000)) // publish_test_data
    for (let m = 0; m < 5; m++) for (let i = 0; i < 20; i++) sent.push(reading(`CNC-STRESS-${m}`, i, now - 5 * 60_000 + i * 100)) // stress
    for (let g = 0; g < 2; g++) for (let i = 0; i < 300; i++) sent.push(reading(`PERF-TEST-${g}`, i, now - 2 * 60_000 + i)) // performance
    await Promise.all(sent.map((d) => js.publish(`${t.stream}.metrics`, enc.encode(goMarshalSensorData(d)))))
    await js.publish(`${t.stream}.metrics`, enc.encode('{"machine_id": "CNC-MALFORMED", "temperature": "not-a-float"}'))
    await waitSettled(t)

    for (const machine of new Set(sent.map((d) => d.MachineID))) {
      const r = await c.get(`/api/v1/machines/${machine}/data`)
      assert.equal(r.status, 200)
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/)
      const got = decodeSensorDataList(r.text)
      const want = sent.filter((d) => d.MachineID === machine)
      assert.deepEqual(got.map(key), want.map(key), `${machine}: every reading once, in time order, to the microsecond`)
      assert.deepEqual(got[0], { ...want[0], Timestamp: got[0]?.Timestamp }, `${machine}: every field as sent`)
      assert.equal(r.headers.get('link'), null, 'one page: no next')
    }
    assert.deepEqual(decodeSensorDataList((await c.get('/api/v1/machines/CNC-MALFORMED/data')).text), [], 'the malformed message stored nothing')
    const latest = await c.get('/api/v1/machines/CNC-001/latest')
    assert.equal(decodeSensorDataList(`[${latest.text}]`)[0]?.ActiveProgramLine, 42)
  })

  it('a client that ignores headers gets the first page; one that follows rel="next" gets every row once', async () => {
    const first = await c.get('/api/v1/machines/PERF-TEST-0/data?limit=64')
    assert.equal(decodeSensorDataList(first.text).length, 64)
    assert.equal(first.headers.get('x-result-count'), '64')
    assert.match(first.headers.get('link') ?? '', /^<\/api\/v1\/machines\/PERF-TEST-0\/data\?cursor=[A-Za-z0-9_-]+&limit=64>; rel="next"$/)
    const { rows, pages } = await followAll(c, '/api/v1/machines/PERF-TEST-0/data?limit=64', 64)
    assert.equal(pages, 5)
    assert.deepEqual(rows.map((d) => d.ActiveProgramLine), Array.from({ length: 300 }, (_, i) => i))
    const oneShot = decodeSensorDataList((await c.get('/api/v1/machines/PERF-TEST-0/data?limit=10000')).text)
    assert.equal(oneShot.length, 300)
  })

  it('window defaults are the original\'s; the 366-day bound applies to windows given with both bounds', async () => {
    const at = (ms: number, line: number) => t.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, active_program_line)
      VALUES ($1, 'WIN', 20, 1000, $2)`, [new Date(ms).toISOString(), line])
    await at(Date.UTC(2001, 0, 1), 1)
    await at(now - HOUR_MS, 2)
    await at(now + 23 * HOUR_MS, 3)
    await at(now + 25 * HOUR_MS, 4)
    const lines = async (q: string): Promise<number[]> => {
      const r = await c.get(`/api/v1/machines/WIN/data${q}`)
      assert.equal(r.status, 200, `${q}: ${r.text}`)
      return decodeSensorDataList(r.text).map((d) => d.ActiveProgramLine)
    }
    assert.deepEqual(await lines(''), [1, 2, 3], 'no parameters: from year 1 to now + 24 h')
    assert.deepEqual(await lines('?start_time=2020-01-01T00:00:00Z'), [2, 3], 'start_time only: to now + 24 h')
    assert.deepEqual(await lines('?end_time=2010-01-01T00:00:00Z'), [1], 'end_time only: from year 1')
    assert.deepEqual(await lines('?start_time=9999-01-01T00:00:00Z'), [], 'start after the default end: empty, as BETWEEN was')
    const wide = await c.get('/api/v1/machines/WIN/data?start_time=2001-01-01T00:00:00Z&end_time=2025-01-01T00:00:00Z')
    assert.equal(wide.status, 400)
    assert.equal(wide.json<{ error: { code: string } }>().error.code, 'range_too_large')
    const { rows } = await followAll(c, '/api/v1/machines/WIN/data?limit=1', 1)
    assert.deepEqual(rows.map((d) => d.ActiveProgramLine), [1, 2, 3], 'a default window of 25 years pages through everything')
  })

  it('every page is bounded inside a group of equal timestamps, identical rows included', async () => {
    // 700 rows at one instant: 400 distinct, 300 in a few sets of identical copies (states that sort differently
    // in byte order and in a locale, and NULL); 5 rows around them.
    await t.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, machine_state, active_program_line)
      SELECT '2025-07-13T10:00:00.5Z', 'GRP', 20, 1000, CASE g % 4 WHEN 0 THEN NULL WHEN 1 THEN 'a' || (g % 5) WHEN 2 THEN 'B' || (g % 5) ELSE 'ü' END,
        CASE WHEN g <= 400 THEN g ELSE 0 END
      FROM generate_series(1, 700) g`)
    await t.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, active_program_line)
      SELECT '2025-07-13T10:00:00Z'::timestamptz + g * interval '0.25 second', 'GRP', 20, 1000, 1000 + g FROM generate_series(0, 4) g`)
    const expected = [...Array.from({ length: 400 }, (_, i) => i + 1), ...Array<number>(300).fill(0), 1000, 1001, 1003, 1004]
      .sort((a, b) => a - b)
    for (const limit of [1, 7, 64, 299, 1000]) {
      const { rows } = await followAll(c, `/api/v1/machines/GRP/data?limit=${limit}`, limit)
      assert.deepEqual(rows.map((d) => d.ActiveProgramLine).sort((a, b) => a - b), [...expected, 1002].sort((a, b) => a - b), `limit ${limit}: every row once`)
      const times = rows.map((d) => micros(d.Timestamp))
      assert.deepEqual([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), times, 'time order')
    }
  })

  it('POST takes the original Machine struct as Go marshals it, with or without a JSON content type', async () => {
    const full = { ID: 'CNC-900', Name: 'Mill 900', Location: 'Hall C', ControllerType: 'Fanuc', MaxSpindleSpeedRPM: 12000, AxisCount: 5, CreatedAt: GO_ZERO_TIME, LastUpdated: GO_ZERO_TIME }
    const created = await c.post('/api/v1/machines', goMarshalMachine(full))
    assert.equal(created.status, 201, created.text)
    const m = decodeMachine(created.text)
    assert.deepEqual({ ...m, CreatedAt: '', LastUpdated: '' }, { ...full, CreatedAt: '', LastUpdated: '' })
    assert.notEqual(m.CreatedAt, GO_ZERO_TIME, 'created_at is the server\'s, not the client\'s')
    // Go's zero values for the optional fields, no Content-Type at all, and curl -d's form type.
    const bare = { ...full, ID: 'CNC-901', ControllerType: '', MaxSpindleSpeedRPM: 0, AxisCount: 0 }
    const noType = await c.request('POST', '/api/v1/machines', { body: enc.encode(goMarshalMachine(bare)) })
    assert.equal(noType.status, 201, noType.text)
    assert.deepEqual(noType.json(), { ...noType.json(), controller_type: null, max_spindle_speed_rpm: null, axis_count: null }, 'zero values stored as unknown')
    assert.equal(decodeMachine(noType.text).AxisCount, 0, 'and read back by Go as its zero value')
    const curl = await c.post('/api/v1/machines', goMarshalMachine({ ...bare, ID: 'CNC-902' }), 'application/x-www-form-urlencoded')
    assert.equal(curl.status, 201, curl.text)
    assert.equal((await c.post('/api/v1/machines', goMarshalMachine(full))).status, 409)
    const list = decodeMachineList((await c.get('/api/v1/machines')).text)
    assert.deepEqual(list.map((x) => x.ID), ['CNC-900', 'CNC-901', 'CNC-902'])
    assert.equal(decodeMachine((await c.get('/api/v1/machines/CNC-902')).text).Location, 'Hall C')
  })

  it('HEAD answers on every GET route with the headers of GET and no body', async () => {
    // A fixed window: the default one ends at now + 24 h, which moves between GET and HEAD.
    const w = `start_time=${new Date(now - HOUR_MS).toISOString()}&end_time=${new Date(now + HOUR_MS).toISOString()}`
    const same = ['/api/v1/machines', '/api/v1/machines/CNC-900', '/api/v1/machines/NOPE', `/api/v1/machines/PERF-TEST-0/data?${w}&limit=5`,
      `/api/v1/machines/PERF-TEST-0/data?${w}&limit=10000`, `/api/v2/machines/PERF-TEST-0/data?${w}&limit=5`, '/api/v1/machines/CNC-001/latest',
      '/api/v1/machines/CNC-001/data?start_time=2001-01-01T00:00:00Z&end_time=2025-01-01T00:00:00Z', '/openapi.json', '/no/such/route']
    for (const path of same) {
      const get = await c.get(path)
      const head = await c.request('HEAD', path)
      assert.equal(head.status, get.status, path)
      assert.equal(head.text, '', `${path}: no body`)
      for (const h of ['content-type', 'link', 'x-result-count']) assert.equal(head.headers.get(h), get.headers.get(h), `${path}: ${h}`)
      assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(get.text)), `${path}: the length GET sends`)
    }
    for (const path of ['/livez', '/readyz', '/metrics', '/api/v1/rejected', '/api/v1/fleet/latest', '/api/v1/machines/CNC-001/states']) {
      const head = await c.request('HEAD', path)
      assert.equal(head.status, 200, path)
      assert.equal(head.text, '')
    }
    assert.equal((await c.request('DELETE', '/api/v1/machines/CNC-900/latest')).headers.get('allow'), 'GET, HEAD')
    assert.equal((await c.get('/livez')).status, 200, 'the connection and server are fine after HEADs')
  })

  after(() => {
    assertNo5xx(c)
    c.assertDocumented()
  })
})

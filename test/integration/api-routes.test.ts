/**
 * Machines, dead letters, health, errors and hostile input against a running service:
 * every route and status code, SQL-injection strings and odd bytes (never a 5xx, database
 * unchanged), oversized bodies, and a client leaving in the middle of a large streamed page.
 */
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { connect as netConnect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { Service } from '../../src/service.js'
import { ApiClient, assertNo5xx } from '../helpers/api-client.js'
import { json, reading } from '../helpers/payloads.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, prefill, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'

type ErrorBody = { error: { code: string, message: string } }

const HOSTILE = [
  "'; DROP TABLE sensor_data; --",
  "CNC-001' OR '1'='1",
  'x") UNION SELECT * FROM pg_shadow --',
  '\u0000', 'a\u0000b', '\u202eevil', '💥', 'ünïcødé', ' ', '%', '\\', '"', '..%2F..%2Fetc%2Fpasswd',
  'M'.repeat(129), 'M'.repeat(5000),
]
const RAW_IDS = ['%FF', '%C3%28', '%00', '%E0%80%80', '%ZZ', '%', '%25%00']

describe('machines, rejected, health and errors', () => {
  let t: TestEnv
  let service: Service
  let c: ApiClient

  before(async () => {
    t = await createTestEnv('APIROUTES')
    service = await startService(t, { CNC_INGEST_LINGER_MS: '10' })
    c = new ApiClient(`http://127.0.0.1:${service.httpPort}`)
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
  })

  it('health, metrics and the OpenAPI document', async () => {
    assert.deepEqual((await c.get('/livez')).json(), { status: 'ok' })
    assert.deepEqual((await c.get('/readyz')).json(), { status: 'ready', details: { database_mode: 'postgres', pipeline: 'running' } })
    const doc = (await c.get('/openapi.json')).json()
    assert.equal(doc.openapi, '3.1.0')
    const m = await c.get('/metrics')
    assert.match(m.headers.get('content-type') ?? '', /^text\/plain/)
    for (const name of ['cnc_messages_received_total', 'cnc_messages_committed_total', 'cnc_messages_rejected_total', 'cnc_messages_nakd_total',
      'cnc_messages_redelivered_total', 'cnc_batch_size', 'cnc_commit_duration_seconds', 'cnc_publish_to_commit_seconds',
      'cnc_consumer_pending_messages', 'cnc_consumer_ack_pending_messages', 'cnc_last_commit_timestamp_seconds',
      'cnc_http_requests_total', 'cnc_http_request_duration_seconds', 'process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']) {
      assert.match(m.text, new RegExp(`^# TYPE ${name} `, 'm'), name)
    }
    // Default Node.js/process metrics keep their standard names: stock dashboards query those.
    assert.doesNotMatch(m.text, /^# TYPE cnc_(process|nodejs)_/m)
  })

  it('404 JSON off the map, 405 with Allow for another method', async () => {
    for (const path of ['/nope', '/api', '/api/v1/machine', '/api/v1/machines/a/b/c', '/livez/x']) {
      const r = await c.get(path)
      assert.equal(r.status, 404, path)
      assert.equal(r.json<ErrorBody>().error.code, 'not_found')
      assert.equal(r.headers.get('content-type'), 'application/json')
    }
    for (const [method, path, allow] of [['DELETE', '/api/v1/machines', 'GET, HEAD, POST'], ['PUT', '/api/v1/machines/x', 'GET, HEAD'],
      ['POST', '/api/v1/machines/x/data', 'GET, HEAD'], ['PATCH', '/readyz', 'GET, HEAD'], ['POST', '/metrics', 'GET, HEAD']] as const) {
      const r = await c.request(method, path)
      assert.equal(r.status, 405, `${method} ${path}`)
      assert.equal(r.headers.get('allow'), allow)
      assert.equal(r.json<ErrorBody>().error.code, 'method_not_allowed')
    }
  })

  it('machines: create, conflict, validation, media type, size, list and get', async () => {
    const created = await c.post('/api/v1/machines', { id: 'CNC-002', name: 'Mill 2', location: 'Hall B', controller_type: 'Fanuc', max_spindle_speed_rpm: 12000, axis_count: 5 })
    assert.equal(created.status, 201, created.text)
    const m = created.json()
    assert.equal(m.id, 'CNC-002')
    assert.equal(m.axis_count, 5)
    assert.match(m.created_at as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
    assert.equal((await c.post('/api/v1/machines', { id: 'CNC-001', name: 'Mill 1', location: 'Hall A' })).status, 201)
    assert.equal((await c.post('/api/v1/machines', { id: 'a.b_c-9', name: 'n', location: 'l' })).status, 201)
    const dup = await c.post('/api/v1/machines', { id: 'CNC-001', name: 'again', location: 'x' })
    assert.equal(dup.status, 409)
    assert.equal(dup.json<ErrorBody>().error.code, 'conflict')
    for (const [body, field] of [
      [{ name: 'n', location: 'l' }, 'id'],
      [{ id: 'X', location: 'l' }, 'name'],
      [{ id: 'X', name: 'n' }, 'location'],
      [{ id: 'has space', name: 'n', location: 'l' }, 'id'],
      [{ id: 'M'.repeat(129), name: 'n', location: 'l' }, 'id'],
      [{ id: '', name: 'n', location: 'l' }, 'id'],
      [{ id: 'X', name: 'n\u0000', location: 'l' }, 'name'],
      [{ id: 'X', name: 'n', location: 'l', axis_count: 2.5 }, 'axis_count'],
      [{ id: 'X', name: 'n', location: 'l', max_spindle_speed_rpm: 2 ** 31 }, 'max_spindle_speed_rpm'],
      [{ id: 'X', name: 'n', location: 'l', colour: 'red' }, 'colour'],
      [[1, 2], 'body'],
    ] as const) {
      const r = await c.post('/api/v1/machines', body)
      assert.equal(r.status, 400, JSON.stringify(body))
      assert.match(r.json<ErrorBody>().error.message, new RegExp(`^${field}`), `names ${field}`)
    }
    assert.equal((await c.post('/api/v1/machines', '{"id": "X",')).json<ErrorBody>().error.code, 'invalid_json')
    assert.equal((await c.post('/api/v1/machines', '')).status, 400)
    assert.equal((await c.post('/api/v1/machines', 'id=X', 'application/x-www-form-urlencoded')).json<ErrorBody>().error.code, 'invalid_json', 'curl -d: read as JSON')
    assert.equal((await c.post('/api/v1/machines', '{}', 'application/xml')).status, 415)
    assert.equal((await c.post('/api/v1/machines', '{}', 'multipart/form-data; boundary=x')).status, 415)
    assert.equal((await c.request('POST', '/api/v1/machines', { body: '{}', headers: { origin: 'http://evil.example' } })).status, 415, 'a browser, cross-site without preflight')
    assert.equal((await c.post('/api/v1/machines', { id: 'OK-1', name: 'n', location: 'l' }, 'application/json; charset=utf-8')).status, 201)
    const big = await c.post('/api/v1/machines', JSON.stringify({ id: 'BIG', name: 'x'.repeat(70_000), location: 'l' }))
    assert.equal(big.status, 413)
    assert.equal(big.json<ErrorBody>().error.code, 'payload_too_large')
    // No Content-Length (chunked): refused while reading.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${c.base}/api/v1/machines`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
      req.on('error', reject)
      for (let i = 0; i < 20; i++) req.write('x'.repeat(8192))
      req.end()
    })
    assert.equal(chunked, 413)
    c.observed.push({ method: 'POST', path: '/api/v1/machines', status: chunked })
    assert.deepEqual((await c.get('/api/v1/machines')).json<Array<{ id: string }>>().map((r) => r.id), ['CNC-001', 'CNC-002', 'OK-1', 'a.b_c-9'])
    assert.equal((await c.get('/api/v1/machines/CNC-002')).json().location, 'Hall B')
    assert.equal((await c.get('/api/v1/machines/a.b_c-9')).status, 200)
    assert.equal((await c.get('/api/v1/machines/CNC-404')).status, 404)
    const metrics = (await c.get('/metrics')).text
    assert.match(metrics, /cnc_http_refused_total\{reason="body_too_large"\} [2-9]/)
    assert.match(metrics, /cnc_http_requests_total\{route="\/api\/v1\/machines\/:id",method="GET",status="404"\}/, 'labelled by pattern')
    assert.doesNotMatch(metrics, /route="\/api\/v1\/machines\/CNC/, 'never by raw URL')
  })

  it('rejected: reason, subject, sequence, payload as text or base64, pages', async () => {
    await prefill(t, [json(reading('CNC-001', 1)), '{"not json', Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), json(reading('CNC-001', 2, { temperature: 'hot' }))])
    await waitSettled(t)
    const r = await c.get('/api/v1/rejected')
    assert.equal(r.status, 200)
    const page = r.json<{ count: number, data: Array<Record<string, unknown>> }>()
    assert.equal(page.count, 3)
    const bySeq = new Map(page.data.map((d) => [d.stream_seq, d]))
    assert.deepEqual(bySeq.get(2), { ...bySeq.get(2), reason: 'invalid_json', subject: `${t.stream}.metrics`, payload_encoding: 'utf8', payload_preview: '{"not json', payload_bytes: 10, payload_truncated: false })
    assert.deepEqual(bySeq.get(3), { ...bySeq.get(3), reason: 'invalid_utf8', payload_encoding: 'base64', payload_preview: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64') })
    const item = (await c.get(`/api/v1/rejected/${String(bySeq.get(3)?.id)}`)).json()
    assert.deepEqual(item, { ...item, reason: 'invalid_utf8', payload_bytes: 4, payload_encoding: 'base64', payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64') })
    assert.equal(bySeq.get(4)?.reason, 'schema')
    // 250 more, several sharing one received_at: pages still return each exactly once.
    await t.query(`INSERT INTO rejected_messages (received_at, subject, stream_seq, reason, detail, payload)
      SELECT '2025-01-01T00:00:00Z'::timestamptz + ((g / 4) * interval '1 second'), 'S', 1000 + g, 'schema', 'd', convert_to('p' || g, 'UTF8')
      FROM generate_series(1, 250) g`)
    const seen: number[] = []
    let cursor: string | null = null
    do {
      const p: { next_cursor: string | null, data: Array<{ id: number }> } = (await c.get(`/api/v1/rejected?limit=7${cursor === null ? '' : `&cursor=${cursor}`}`)).json()
      seen.push(...p.data.map((d) => d.id))
      cursor = p.next_cursor
    } while (cursor !== null)
    assert.equal(seen.length, 253)
    assert.equal(new Set(seen).size, 253)
    for (const q of ['limit=0', 'limit=1001', 'cursor=abc', `cursor=${Buffer.from('{"v":1,"r":"x","i":"1"}').toString('base64url')}`]) {
      assert.equal((await c.get(`/api/v1/rejected?${q}`)).status, 400, q)
    }
  })

  it('SQL-injection strings and odd bytes never give a 5xx and change nothing', async () => {
    const count = async () => (await t.query<{ m: string, s: string, r: string }>(
      'SELECT (SELECT count(*) FROM machines) AS m, (SELECT count(*) FROM sensor_data) AS s, (SELECT count(*) FROM rejected_messages) AS r'))[0]
    const before = await count()
    const ids = [...HOSTILE.map(encodeURIComponent), ...RAW_IDS]
    for (const id of ids) {
      for (const suffix of ['', '/data', '/latest', '/data?bucket=1m&agg=avg']) {
        const r = await c.get(`/api/v1/machines/${id}${suffix}`)
        assert.ok(r.status < 500 && r.status !== 0, `${id}${suffix}: ${r.status}`)
        assert.doesNotThrow(() => r.json(), 'JSON body')
      }
    }
    for (const v of HOSTILE) {
      const e = encodeURIComponent(v)
      for (const q of [`start_time=${e}`, `end_time=${e}`, `limit=${e}`, `cursor=${e}`, `bucket=${e}&agg=avg`, `bucket=1m&agg=${e}`, `max_points=${e}&bucket=1m&agg=avg`]) {
        const r = await c.get(`/api/v1/machines/CNC-001/data?${q}`)
        assert.equal(r.status, 400, q)
      }
      assert.equal((await c.get(`/api/v1/rejected?cursor=${e}`)).status, 400)
      assert.ok((await c.post('/api/v1/machines', { id: v, name: v, location: v })).status === 400)
    }
    for (const raw of ['%FF', '%00', '%', '%E0%80%80']) {
      assert.equal((await c.get(`/api/v1/machines/CNC-001/data?start_time=${raw}`)).status, 400)
    }
    assert.equal((await c.request('POST', '/api/v1/machines', { body: Uint8Array.from([0x7b, 0xff, 0x00, 0x7d]), headers: { 'content-type': 'application/json' } })).status, 400)
    assert.deepEqual(await count(), before, 'database unchanged')
    assert.equal((await c.get('/readyz')).status, 200)
  })

  it('a client that leaves in the middle of a large streamed page does not hurt the process', async () => {
    // ~12 MB of fleet rows (5,000 machines, 2,000-character states): more than the socket buffers
    // hold, so the stream meets backpressure.
    await t.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, machine_state)
      SELECT now(), 'BIG-' || lpad(g::text, 6, '0'), 1, 2, repeat('S', 2000) FROM generate_series(1, 5000) g`)
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve, reject) => {
        const sock = netConnect(service.httpPort, '127.0.0.1', () => sock.write('GET /api/v1/fleet/latest?limit=5000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'))
        sock.once('data', () => { sock.pause(); setTimeout(() => { sock.destroy(); resolve() }, 100) })
        sock.once('error', reject)
      })
    }
    const aborted = /cnc_http_requests_total\{route="\/api\/v1\/fleet\/latest",method="GET",status="aborted"\} [1-9]/
    await waitFor('the aborted streams to be counted', async () => aborted.test((await c.get('/metrics')).text), 30_000, 100)
    assert.equal((await c.get('/livez')).status, 200)
    const full = await c.get('/api/v1/fleet/latest?limit=5000')
    assert.equal(full.json<{ count: number }>().count, 5000)
  })

  after(() => {
    assertNo5xx(c)
    c.assertDocumented()
  })
})

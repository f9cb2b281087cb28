/**
 * Issue 10/17, the API side, against a running service: every answer bounded in bytes (dead-letter
 * previews, fleet pages), the Host and Origin checks, /readyz from a cache, and api_busy when no
 * database connection frees up in time, while a light route keeps its connection.
 */
import assert from 'node:assert/strict'
import { connect as netConnect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { Registry } from 'prom-client'
import { ApiServer } from '../../src/api/server.js'
import type { Service } from '../../src/service.js'
import { ApiClient, assertNo5xx } from '../helpers/api-client.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, silentLog, waitFor, type TestEnv } from '../helpers/test-env.js'
import { WsClient } from '../helpers/ws-client.js'

/** One raw HTTP/1.1 GET with the given Host header; resolves with the status and body. */
function rawGet (port: number, path: string, host: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const sock = netConnect(port, '127.0.0.1', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`))
    let data = ''
    const done = (): void => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1])
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) })
    }
    sock.on('data', (c: Buffer) => {
      data += c.toString('latin1')
      // A refused upgrade keeps the connection open: stop once Content-Length bytes arrived.
      const end = data.indexOf('\r\n\r\n')
      const length = /\r\ncontent-length: *(\d+)/i.exec(data)
      if (end >= 0 && length !== null && data.length - end - 4 >= Number(length[1])) { sock.destroy(); done() }
    })
    sock.on('end', done)
    sock.once('error', reject)
  })
}

describe('API bounds', () => {
  let t: TestEnv
  let service: Service
  let c: ApiClient

  before(async () => {
    t = await createTestEnv('APIBOUNDS')
    service = await startService(t, { CNC_DATABASE_API_POOL_SIZE: '2', CNC_HTTP_DB_WAIT_MS: '300', CNC_HTTP_ALLOWED_ORIGINS: 'https://ops.example' })
    c = new ApiClient(`http://127.0.0.1:${service.httpPort}`)
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
  })

  it('dead-letter pages carry previews and sizes; one item carries the whole payload', async () => {
    // 300 dead letters of 64 KB: the old page of 1,000 was ~26 MB of base64; now each is a preview.
    await t.query(`INSERT INTO rejected_messages (subject, stream_seq, reason, detail, payload)
      SELECT 'S', g, 'payload_too_large', 'd', decode(repeat('ff', 65536), 'hex') FROM generate_series(1, 300) g`)
    // A UTF-8 payload whose 256th byte is inside a 3-byte character: previewed as text up to it.
    await t.query(`INSERT INTO rejected_messages (subject, stream_seq, reason, detail, payload)
      VALUES ('S', 1000, 'schema', 'd', convert_to(repeat('a', 254) || repeat('€', 100), 'UTF8'))`)
    const r = await c.get('/api/v1/rejected?limit=1000')
    assert.equal(r.status, 200)
    assert.ok(r.text.length < 301 * 1_000, `${r.text.length} characters for 301 dead letters`)
    const page = r.json<{ count: number, data: Array<Record<string, unknown>> }>()
    assert.equal(page.count, 301)
    const euro = page.data.find((d) => d.stream_seq === 1000) as Record<string, unknown>
    const expected = { id: 0, received_at: '', subject: 'S', stream_seq: 1000, reason: 'schema', detail: 'd', payload_bytes: 554 }
    assert.deepEqual({ ...euro, id: 0, received_at: '' }, { ...expected, payload_truncated: true, payload_encoding: 'utf8', payload_preview: 'a'.repeat(254) })
    const binary = page.data.find((d) => d.stream_seq === 1) as Record<string, unknown>
    assert.equal(binary.payload_encoding, 'base64')
    assert.equal(Buffer.from(binary.payload_preview as string, 'base64').length, 256)
    const one = await c.get(`/api/v1/rejected/${String(binary.id)}`)
    assert.equal(one.status, 200)
    const item = one.json<{ payload_bytes: number, payload: string, payload_encoding: string }>()
    assert.equal(item.payload_bytes, 65_536)
    assert.deepEqual(Buffer.from(item.payload, 'base64'), Buffer.alloc(65_536, 0xff))
    assert.equal((await c.get(`/api/v1/rejected/${String(euro.id)}`)).json<{ payload: string }>().payload, 'a'.repeat(254) + '€'.repeat(100))
    assert.equal((await c.get('/api/v1/rejected/999999999')).status, 404)
    for (const bad of ['abc', '-1', '99999999999999999999']) assert.equal((await c.get(`/api/v1/rejected/${bad}`)).status, 400, bad)
  })

  it('fleet/latest pages by machine id: every machine exactly once, in order', async () => {
    await t.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed)
      SELECT now() - (k * interval '1 second'), 'F-' || lpad(g::text, 5, '0'), g, k FROM generate_series(1, 2500) g, generate_series(0, 2) k`)
    await t.query('INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed) VALUES (now(), $1, 1, 2)', ['F-€-' + 'ü'.repeat(120)])
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const p: { count: number, limit: number, has_more: boolean, next_cursor: string | null, data: Array<{ machine_id: string, temperature: number }> } =
        (await c.get(`/api/v1/fleet/latest?limit=1000${cursor === null ? '' : `&cursor=${cursor}`}`)).json()
      assert.equal(p.limit, 1000)
      assert.ok(p.count <= 1000)
      assert.equal(p.has_more, p.next_cursor !== null)
      seen.push(...p.data.map((d) => d.machine_id))
      cursor = p.next_cursor
      pages++
    } while (cursor !== null)
    assert.equal(pages, 3)
    assert.equal(seen.length, 2501)
    assert.equal(new Set(seen).size, 2501)
    assert.deepEqual(seen.slice(0, 2), ['F-00001', 'F-00002'])
    assert.equal(seen[2500], 'F-€-' + 'ü'.repeat(120), 'a 128-character id fits in a cursor')
    const first = (await c.get('/api/v1/fleet/latest')).json<{ count: number, has_more: boolean }>()
    assert.deepEqual([first.count, first.has_more], [1000, true], 'default limit 1000')
    for (const q of ['limit=0', 'limit=5001', 'cursor=***', `cursor=${Buffer.from('').toString('base64url')}x`, 'cursor=AAAA']) {
      assert.equal((await c.get(`/api/v1/fleet/latest?${q}`)).status, 400, q)
    }
  })

  it('without a token, a foreign Host is refused (DNS rebinding); loopback names are served', async () => {
    const port = service.httpPort
    const evil = await rawGet(port, '/api/v1/machines', `evil.example:${port}`)
    assert.equal(evil.status, 403)
    assert.equal(JSON.parse(evil.body).error.code, 'host_not_allowed')
    assert.match(JSON.parse(evil.body).error.message, /http\.allowed_hosts/)
    assert.equal((await rawGet(port, '/metrics', 'evil.example')).status, 403)
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      assert.equal((await rawGet(port, '/api/v1/machines', host)).status, 200, host)
    }
    assert.equal((await rawGet(port, '/livez', 'evil.example')).status, 200, 'health probes carry no data')
    assert.match((await c.get('/metrics')).text, /cnc_http_refused_total\{reason="host"\} [2-9]/)
  })

  it('WebSocket upgrades: same origin, no Origin and configured origins only', async () => {
    const port = service.httpPort
    const ok: WsClient[] = []
    const allowed: Array<Record<string, string>> = [{}, { Origin: `http://127.0.0.1:${port}` }, { Origin: 'https://ops.example' }]
    for (const headers of allowed) {
      ok.push(await WsClient.connect(port, '/api/v1/live', headers))
    }
    for (const ws of ok) ws.close()
    await assert.rejects(WsClient.connect(port, '/api/v1/live', { Origin: 'http://evil.example' }), /403 .*origin_not_allowed/)
    await assert.rejects(WsClient.connect(port, '/api/v1/live', { Origin: `http://localhost:${port + 1}` }), /403 .*origin_not_allowed/)
    // DNS rebinding: the page's origin and Host agree (evil.example), so only the Host check stops it.
    const upgrade = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
      `Origin: http://evil.example:${port}`
    const rebound = await rawGet(port, '/api/v1/live', `evil.example:${port}\r\n${upgrade}`)
    assert.equal(rebound.status, 403)
    assert.equal(JSON.parse(rebound.body).error.code, 'host_not_allowed')
    assert.match((await c.get('/metrics')).text, /cnc_live_refused_total\{reason="origin"\} 2/)
  })

  it('a request that cannot get a database connection in time answers 503 api_busy; light routes keep one', async () => {
    // Pool of 2: heavy routes may hold 1. A lock on sensor_data keeps the first fleet read waiting in the database.
    const locker = new pg.Client({ connectionString: t.databaseUrl })
    await locker.connect()
    try {
      await locker.query('BEGIN')
      await locker.query('LOCK TABLE sensor_data IN ACCESS EXCLUSIVE MODE')
      const stuck = c.get('/api/v1/fleet/latest?limit=10')
      await waitFor('the fleet read to wait on the lock', async () => (await t.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'cnc-monitor-api' AND wait_event_type = 'Lock'"))[0]?.n === '1', 30_000)
      const busy = await c.get('/api/v1/fleet/latest?limit=10')
      assert.equal(busy.status, 503)
      assert.equal(busy.json<{ error: { code: string } }>().error.code, 'api_busy')
      assert.equal(busy.headers.get('retry-after'), '1')
      // The light route has its connection: answered while the heavy one still waits.
      assert.equal((await c.get('/api/v1/rejected/1')).status, 200)
      await locker.query('ROLLBACK')
      assert.equal((await stuck).status, 200)
    } finally {
      await locker.end()
    }
    assert.match((await c.get('/metrics')).text, /cnc_http_refused_total\{reason="api_busy"\} 1/)
    // The one 5xx seen was that api_busy.
    assert.deepEqual(c.observed.filter((o) => o.status >= 500).map((o) => o.status), [503])
    c.observed.splice(0, c.observed.length, ...c.observed.filter((o) => o.status < 500))
  })

  it('/readyz answers from one background check, however many callers', async () => {
    let checks = 0
    let hang = false
    const server = new ApiServer({
      host: '127.0.0.1',
      port: 0,
      registry: new Registry(),
      log: silentLog,
      store: () => undefined,
      authToken: '',
      readiness: {
        check: () => {
          checks++
          return hang ? new Promise(() => {}) : Promise.resolve(null)
        },
        details: () => ({}),
      },
    })
    await server.start()
    try {
      const url = `http://127.0.0.1:${server.port}/readyz`
      await waitFor('ready', async () => (await fetch(url)).status === 200, 10_000)
      const before = checks
      const answers = await Promise.all(Array.from({ length: 300 }, async () => (await fetch(url)).status))
      assert.deepEqual([...new Set(answers)], [200])
      assert.ok(checks - before <= 3, `${checks - before} checks for 300 callers`)
      // A check that never answers turns into not ready after READY_TIMEOUT_MS, and callers still get answers.
      hang = true
      await waitFor('503 naming the hung check', async () => {
        const r = await fetch(url)
        return r.status === 503 && /no answer within/.test(await r.text())
      }, 20_000, 200)
    } finally {
      server.close()
    }
  })

  after(() => {
    assertNo5xx(c)
    c.assertDocumented()
  })
})

/**
 * database.api_url on a read-only server (as a streaming replica is): PostgreSQL answers a write
 * with SQLSTATE 25006, and POST /api/v1/machines turns it into 503 database_read_only naming
 * database.api_url, while reads answer from it and ingest (on database.url) goes on. The read-only
 * server is the test database itself, reached with default_transaction_read_only=on (the same
 * SQLSTATE a hot standby raises; test/cluster/read-replica.test.ts runs a real replica).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { READ_ONLY_MESSAGE } from '../../src/api/http.js'
import type { Service } from '../../src/service.js'
import { ApiClient, assertNo5xx } from '../helpers/api-client.js'
import { json, reading } from '../helpers/payloads.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, prefill, waitSettled, type TestEnv } from '../helpers/test-env.js'

describe('API database read-only', () => {
  let t: TestEnv
  let service: Service
  let c: ApiClient

  before(async () => {
    t = await createTestEnv('READONLY')
    const readOnly = `${t.databaseUrl}?options=${encodeURIComponent('-c default_transaction_read_only=on')}`
    service = await startService(t, { CNC_DATABASE_API_URL: readOnly, CNC_INGEST_LINGER_MS: '5' })
    c = new ApiClient(`http://127.0.0.1:${service.httpPort}`)
  })
  after(async () => {
    c?.assertDocumented()
    await service?.close()
    await t?.cleanup()
  })

  it('answers a write 503 database_read_only naming database.api_url; reads and ingest go on', async () => {
    const r = await c.post('/api/v1/machines', { id: 'RO-1', name: 'Mill', location: 'Hall A' })
    assert.equal(r.status, 503)
    assert.deepEqual(r.json(), { error: { code: 'database_read_only', message: READ_ONLY_MESSAGE } })
    assert.match(READ_ONLY_MESSAGE, /database\.api_url/)

    await prefill(t, [json(reading('RO-1', 1))])
    await waitSettled(t)
    const rows = await t.query<{ n: string }>("SELECT count(*) AS n FROM sensor_data WHERE machine_id = 'RO-1'")
    assert.equal(rows[0]?.n, '1')
    assert.equal((await c.get('/api/v1/machines')).status, 200)
    assert.equal((await c.get('/api/v1/machines/RO-1/latest')).status, 200)
    const reads = new ApiClient(c.base)
    reads.observed.push(...c.observed.filter((o) => o.method === 'GET'))
    assertNo5xx(reads)
  })
})

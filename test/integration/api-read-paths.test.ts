/**
 * Issue 16's read paths against a running service: the machine registry copy is invalidated by a
 * POST (at once in the instance that took it, by NOTIFY in every other), and /latest, batched per
 * event-loop turn, answers each caller its own machine's newest committed reading.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { MachineRegistry } from '../../src/api/machine-registry.js'
import { RegistryListener } from '../../src/store/registry-listener.js'
import { Service } from '../../src/service.js'
import { ApiClient } from '../helpers/api-client.js'
import { json, reading } from '../helpers/payloads.js'
import { createTestEnv, prefill, silentLog, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'

const machine = (id: string): Record<string, unknown> => ({ id, name: `Mill ${id}`, location: 'Hall B' })

describe('API read paths (issue 16)', () => {
  let t: TestEnv
  let service: Service
  let c: ApiClient
  let pool: pg.Pool

  before(async () => {
    t = await createTestEnv('READPATHS')
    service = new Service(t.config(), silentLog)
    await service.start()
    c = new ApiClient(`http://127.0.0.1:${service.httpPort}`)
    pool = new pg.Pool({ connectionString: t.databaseUrl, max: 2 })
  })
  after(async () => {
    await service?.close()
    await pool?.end()
    await t?.cleanup()
  })

  it('POST then GET on the same instance shows the new machine at once (list and by id)', async () => {
    assert.equal((await c.post('/api/v1/machines', machine('RP-1'))).status, 201)
    // The list is now held in memory …
    assert.deepEqual((await c.get('/api/v1/machines')).json<Array<{ id: string }>>().map((m) => m.id), ['RP-1'])
    assert.equal((await c.get('/api/v1/machines/RP-2')).status, 404)
    // … and a POST drops it: no wait.
    assert.equal((await c.post('/api/v1/machines', machine('RP-2'))).status, 201)
    assert.deepEqual((await c.get('/api/v1/machines')).json<Array<{ id: string }>>().map((m) => m.id), ['RP-1', 'RP-2'])
    assert.equal((await c.get('/api/v1/machines/RP-2')).json<{ name: string }>().name, 'Mill RP-2')
  })

  it('another instance\'s copy is dropped by the NOTIFY of a POST (not by age)', async () => {
    // A copy that would live an hour: only the notification can make it see the new machine.
    const registry = new MachineRegistry(3_600_000)
    let notified = 0
    const listener = new RegistryListener(t.databaseUrl, () => { notified++; registry.invalidate() }, silentLog)
    listener.start()
    try {
      await waitFor('the listener to connect', () => notified > 0)
      const before = (await registry.get(pool)).byId
      assert.equal(before.has('RP-3'), false)
      assert.equal((await c.post('/api/v1/machines', machine('RP-3'))).status, 201)
      await waitFor('the other copy to show RP-3', async () => (await registry.get(pool)).byId.has('RP-3'), 10_000)
    } finally {
      listener.close()
    }
  })

  it('a commit is seen by /latest, and a turn of concurrent /latest requests answers each its own machine', async () => {
    await prefill(t, [0, 1, 2].flatMap((n) => ['LA', 'LB', 'LC'].map((m) => json(reading(m, n + (m === 'LB' ? 10 : 0))))))
    await waitSettled(t)
    const want = (m: string, n: number): Record<string, unknown> => ({ ...reading(m, n), timestamp: (reading(m, n).timestamp as string).replace(/Z$/, '000Z') })
    const ids = ['LA', 'LB', 'LC', 'NONE']
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => c.get(`/api/v1/machines/${ids[i % 4] as string}/latest`)))
    answers.forEach((r, i) => {
      const id = ids[i % 4] as string
      if (id === 'NONE') assert.equal(r.status, 404)
      else assert.deepEqual(r.json(), want(id, id === 'LB' ? 12 : 2))
    })
    await prefill(t, [json(reading('LA', 7))])
    await waitSettled(t)
    assert.deepEqual((await c.get('/api/v1/machines/LA/latest')).json(), want('LA', 7))
    const fleet = (await c.get('/api/v1/fleet/latest')).json<{ data: Array<{ machine_id: string, active_program_line: number }> }>()
    assert.deepEqual(fleet.data.map((d) => [d.machine_id, d.active_program_line]), [['LA', 7], ['LB', 12], ['LC', 2]])
  })
})

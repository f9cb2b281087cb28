/**
 * The WebSocket live feed against a running service: subscriptions per machine and "*", readings
 * only after their commit and in the data API's shape, protocol errors, the client and
 * subscription bounds, auth, the per-machine throttle (latest wins), and exact subscriptions beside
 * throttled ones.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Service } from '../../src/service.js'
import { ApiClient } from '../helpers/api-client.js'
import { json, reading } from '../helpers/payloads.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, prefill, waitFor, type TestEnv } from '../helpers/test-env.js'
import { WsClient, type WsMessage } from '../helpers/ws-client.js'

const LIVE = '/api/v1/live'
const isType = (type: string) => (m: WsMessage): boolean => m.type === type

describe('live feed', () => {
  let t: TestEnv
  let service: Service
  let c: ApiClient
  const open: WsClient[] = []
  const client = async (headers?: Record<string, string>, path = LIVE): Promise<WsClient> => {
    const ws = await WsClient.connect(service.httpPort, path, headers)
    open.push(ws)
    return ws
  }

  before(async () => {
    t = await createTestEnv('LIVE')
    service = await startService(t, { CNC_INGEST_LINGER_MS: '10', CNC_LIVE_MAX_CLIENTS: '4', CNC_LIVE_MAX_SUBSCRIPTIONS_PER_CLIENT: '3', CNC_LIVE_MAX_PER_MACHINE_PER_SECOND: '0' })
    c = new ApiClient(`http://127.0.0.1:${service.httpPort}`)
  })
  after(async () => {
    for (const ws of open) ws.close()
    await service?.close()
    await t?.cleanup()
  })

  // live.max_per_machine_per_second 0: every subscription is exact (answers say so).
  it('a subscribed client gets its machines\' readings after publish, in the data API\'s shape', async (ctx) => {
    const a = await client()
    const all = await client()
    a.send({ subscribe: ['LIVE-A'] })
    assert.deepEqual(await a.next(isType('subscribed')), { type: 'subscribed', machines: ['LIVE-A'], exact: true })
    all.send({ subscribe: '*' })
    assert.deepEqual(await all.next(isType('subscribed')), { type: 'subscribed', machines: '*', exact: true })

    const sent = Date.now()
    await prefill(t, [json(reading('LIVE-A', 1)), json(reading('LIVE-B', 2)), json(reading('LIVE-A', 3, { timestamp: '2025-07-13T12:00:00.3+02:00' }))])
    const gotA = await a.next(isType('readings'), 30_000)
    const rowsA = [...(gotA.data as Array<Record<string, unknown>>)]
    while (rowsA.length < 2) rowsA.push(...((await a.next(isType('readings'), 30_000)).data as Array<Record<string, unknown>>))
    // Latency is a benchmark figure (bench/live-fanout.ts), not an assertion on a busy CI box.
    ctx.diagnostic(`readings arrived ${Date.now() - sent} ms after publish`)
    assert.deepEqual(rowsA.map((r) => r.machine_id), ['LIVE-A', 'LIVE-A'])
    // The same objects the data API returns for these rows (timestamps normalized to UTC µs).
    const page = (await c.get('/api/v1/machines/LIVE-A/data?start_time=2025-07-13T09:00:00Z&end_time=2025-07-13T11:00:00Z')).json<unknown[]>()
    assert.deepEqual(rowsA, page)
    assert.equal(rowsA[1]?.timestamp, '2025-07-13T10:00:00.300000Z')

    await waitFor('the "*" client to get all three', () => all.messages.filter(isType('readings')).flatMap((m) => m.data as unknown[]).length >= 3, 30_000)
    assert.deepEqual(all.readings().map((r) => r.machine_id).sort(), ['LIVE-A', 'LIVE-A', 'LIVE-B'])

    a.send({ unsubscribe: ['LIVE-A'] })
    assert.deepEqual(await a.next(isType('subscribed')), { type: 'subscribed', machines: [], exact: true })
    await prefill(t, [json(reading('LIVE-A', 4))])
    await all.next(isType('readings'), 30_000)
    assert.equal(a.messages.filter(isType('readings')).length, 0)
    a.close()
    all.close()
  })

  it('rejects bad messages and too many subscriptions, and bounds the client count', async () => {
    const plain = await fetch(`http://127.0.0.1:${service.httpPort}${LIVE}`)
    assert.equal(plain.status, 426)
    assert.equal(((await plain.json()) as { error: { code: string } }).error.code, 'upgrade_required')
    const ws = await client()
    ws.send('not json')
    assert.equal((await ws.next(isType('error'))).code, 'invalid_message')
    ws.send({ subscribe: [1, 2] })
    assert.equal((await ws.next(isType('error'))).code, 'invalid_message')
    ws.send({ subscribe: ['a'], exact: 'yes' })
    assert.equal((await ws.next(isType('error'))).code, 'invalid_message')
    ws.send({ unsubscribe: ['a'], exact: true })
    assert.equal((await ws.next(isType('error'))).code, 'invalid_message')
    ws.send({ subscribe: ['a', 'b', 'c', 'd'] })
    assert.equal((await ws.next(isType('error'))).code, 'too_many_subscriptions')
    ws.send({ subscribe: ['a', 'b', 'c'] })
    assert.deepEqual((await ws.next(isType('subscribed'))).machines, ['a', 'b', 'c'])
    ws.send({ subscribe: '*' })
    assert.equal((await ws.next(isType('subscribed'))).machines, '*')

    await waitFor('earlier clients to be gone', async () => /^cnc_live_clients 1$/m.test((await c.get('/metrics')).text), 30_000)
    const more = [await client(), await client(), await client()]
    await assert.rejects(WsClient.connect(service.httpPort, LIVE), /503 Service Unavailable.*live_feed_full/)
    const m = (await c.get('/metrics')).text
    assert.match(m, /^cnc_live_clients 4$/m)
    assert.match(m, /^cnc_live_refused_total\{reason="max_clients"\} 1$/m)
    assert.match(m, /^cnc_live_messages_sent_total \d+$/m)
    for (const x of [ws, ...more]) x.close()
  })
})

describe('live feed with a token and a throttle', () => {
  let t: TestEnv
  let service: Service

  before(async () => {
    t = await createTestEnv('LIVETOK')
    service = await startService(t, { CNC_INGEST_LINGER_MS: '10', CNC_HTTP_AUTH_TOKEN: 's3cret', CNC_LIVE_MAX_PER_MACHINE_PER_SECOND: '2' })
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
  })

  it('needs the token (header or ?token=)', async () => {
    await assert.rejects(WsClient.connect(service.httpPort, LIVE), /401 Unauthorized.*unauthorized/)
    await assert.rejects(WsClient.connect(service.httpPort, LIVE + '?token=wrong'), /401/)
    const h = await WsClient.connect(service.httpPort, LIVE, { Authorization: 'Bearer s3cret' })
    const q = await WsClient.connect(service.httpPort, LIVE + '?token=s3cret')
    h.close()
    q.close()
  })

  it('sends at most N readings per machine per second, the latest reading winning', async () => {
    const ws = await WsClient.connect(service.httpPort, LIVE + '?token=s3cret')
    ws.send({ subscribe: ['THR-1'] })
    await ws.next(isType('subscribed'))
    const payloads = Array.from({ length: 200 }, (_, i) => json(reading('THR-1', i)))
    const started = Date.now()
    await prefill(t, payloads)
    await waitFor('the newest reading', () => ws.messages.some((m) => (m.data as Array<{ spindle_speed: number }> | undefined)?.some((r) => r.spindle_speed === 1399) === true), 30_000)
    // 2 per second over however long ingest took on this box (+1 s for a window boundary), never 200.
    const bound = 2 * (Math.ceil((Date.now() - started) / 1000) + 1)
    // Batches commit concurrently: an older reading may commit after the newest was sent. It is skipped
    // (counted as coalesced), never sent after it; wait until every reading has been offered.
    const coalesced = async (): Promise<number> => {
      const res = await fetch(`http://127.0.0.1:${service.httpPort}/metrics`, { headers: { Authorization: 'Bearer s3cret' } })
      return Number(/^cnc_live_readings_coalesced_total (\d+)$/m.exec(await res.text())?.[1])
    }
    const got: Array<Record<string, unknown>> = []
    await waitFor('every reading sent or coalesced', async () => {
      got.push(...ws.readings()) // readings() hands each frame over once
      return await coalesced() + got.length === 200
    }, 30_000)
    assert.ok(got.length <= bound, `${got.length} readings sent for 200 committed (bound ${bound})`)
    assert.equal(got.at(-1)?.spindle_speed, 1399)
    ws.close()
  })

  it('beside a throttled client, an exact one ({"exact": true}) gets every reading, with cursors', async () => {
    const throttled = await WsClient.connect(service.httpPort, LIVE + '?token=s3cret')
    const exact = await WsClient.connect(service.httpPort, LIVE + '?token=s3cret')
    throttled.send({ subscribe: ['THR-2'] })
    assert.deepEqual(await throttled.next(isType('subscribed')), { type: 'subscribed', machines: ['THR-2'] })
    exact.send({ subscribe: ['THR-2'], exact: true })
    assert.deepEqual(await exact.next(isType('subscribed')), { type: 'subscribed', machines: ['THR-2'], exact: true })
    // A connection is one kind for all its subscriptions: switching needs {"unsubscribe": "*"} first.
    throttled.send({ subscribe: ['THR-3'], exact: true })
    assert.match(String((await throttled.next(isType('error'))).message), /unsubscribe/)

    // Read without consuming (WsClient.readings() takes the frames out).
    const frames = (ws: WsClient) => ws.messages.filter(isType('readings'))
    const rows = (ws: WsClient) => frames(ws).flatMap((m) => m.data as Array<Record<string, unknown>>)
    await prefill(t, Array.from({ length: 100 }, (_, i) => json(reading('THR-2', i))))
    await waitFor('every reading on the exact client', () => rows(exact).length >= 100, 30_000)
    await waitFor('the newest on the throttled one', () => rows(throttled).some((r) => r.spindle_speed === 1299), 30_000)
    const lines = (list: Array<Record<string, unknown>>) => list.map((r) => r.active_program_line as number).sort((a, b) => a - b)
    assert.deepEqual(lines(rows(exact)), Array.from({ length: 100 }, (_, i) => i))
    assert.ok(frames(exact).every((m) => typeof m.cursor === 'string'), 'exact frames carry a cursor')
    assert.ok(frames(throttled).every((m) => m.cursor === undefined), 'throttled frames do not')
    assert.ok(rows(throttled).length < 100, `${rows(throttled).length} readings: coalesced`)

    // An exact connection may resume; "since" is refused only while it holds a subscription.
    exact.send({ subscribe: ['THR-2'], since: frames(exact)[0]?.cursor })
    assert.equal((await exact.next(isType('error'))).code, 'resume_unavailable')
    const again = await WsClient.connect(service.httpPort, LIVE + '?token=s3cret')
    again.send({ subscribe: ['THR-2'], since: frames(exact)[0]?.cursor })
    await again.next(isType('resumed'), 30_000)
    const later = frames(exact).slice(1).flatMap((m) => m.data as Array<Record<string, unknown>>)
    assert.deepEqual(lines(rows(again)), lines(later), 'the readings after the first frame, from the database, once each')
    throttled.close()
    exact.close()
    again.close()
  })
})

/**
 * Pure parts of the API's bounds: the live throttle's per-machine table (bounded whatever ids
 * publishers invent), the database admission gate (api_busy, a connection kept for light
 * requests), and the Host/Origin checks against DNS rebinding.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ParsedBatch } from '../../src/contracts.js'
import pg from 'pg'
import { DbGate, MAX_WAITING } from '../../src/api/db-gate.js'
import { PG_ADMIN_URL } from '../helpers/test-env.js'
import { hostCheck, hostName, originCheck } from '../../src/api/edge.js'
import { HttpError } from '../../src/api/http.js'
import { LiveThrottle, MAX_PENDING_CHARS, MAX_SLOTS, type MachineRows } from '../../src/api/live-throttle.js'

/** A committed batch as the throttle sees it: one row per payload, one machine per distinct id. */
function batch (readings: Array<{ id: string, t: number, extra?: string }>): ParsedBatch {
  const texts = readings.map((r) => JSON.stringify({ machine_id: r.id, timestamp: new Date(r.t).toISOString(), temperature: 1, spindle_speed: 2, junk: r.extra }))
  const bytes = Buffer.from(texts.join(''))
  const offsets = new Uint32Array(texts.length + 1)
  texts.forEach((s, i) => { offsets[i + 1] = (offsets[i] as number) + Buffer.byteLength(s) })
  const machines = [...new Set(readings.map((r) => r.id))]
  const index = new Map(machines.map((id, i) => [id, i]))
  return {
    copy: new Uint8Array(0),
    rowEnds: new Uint32Array(readings.length),
    rowMessage: Uint32Array.from(readings.map((_, i) => i)),
    rowSpan: Uint32Array.from(readings.flatMap((_, i) => [offsets[i] as number, offsets[i + 1] as number])),
    rowTimeMs: Float64Array.from(readings.map((r) => r.t)),
    rowMachine: Uint32Array.from(readings.map((r) => index.get(r.id) as number)),
    machines,
    rejections: [],
    bytes,
    offsets,
  }
}

describe('live throttle table', () => {
  it('stays within MAX_SLOTS however many machine ids arrive, and forgets idle machines', async () => {
    const sent: MachineRows[] = []
    const th = new LiveThrottle(1, (rows) => sent.push(rows), () => {})
    let peak = 0
    // 15,000 distinct ids within one interval, in batches of 1,000 (the Uint16 machine index).
    for (let b = 0; b < 15; b++) {
      const p = batch(Array.from({ length: 1000 }, (_, i) => ({ id: `M-${b}-${i}`, t: Date.now() })))
      th.offer(p, new Uint8Array(p.machines.length).fill(1))
      peak = Math.max(peak, th.slots)
    }
    assert.ok(peak <= MAX_SLOTS, `peak ${peak} slots`)
    const delivered = sent.reduce((n, rows) => n + rows.size, 0)
    assert.equal(delivered, 15_000, 'every machine\'s first reading is sent (tracked or not)')
    // One interval later, a batch for one machine sweeps every slot that carries nothing.
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const p = batch([{ id: 'LATE', t: Date.now() }])
    th.offer(p, new Uint8Array(1).fill(1))
    assert.ok(th.slots <= 1, `${th.slots} slots left`)
    th.close()
  })

  it('holds a pending reading in bounded form, however large the payload', async () => {
    const sent: MachineRows[] = []
    const th = new LiveThrottle(2, (rows) => sent.push(rows), () => {})
    const now = Date.now()
    const big = 'x'.repeat(60_000)
    const p1 = batch([{ id: 'BIG', t: now, extra: big }])
    th.offer(p1, new Uint8Array(1).fill(1))
    const p2 = batch([{ id: 'BIG', t: now + 1, extra: big }])
    th.offer(p2, new Uint8Array(1).fill(1))
    // The second is held (interval 500 ms), then sent by the timer as a Reading without the junk.
    const deadline = Date.now() + 10_000
    while (sent.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(sent.length, 2)
    const frame = sent[1]?.get('BIG')?.[0] ?? ''
    assert.ok(frame.length < MAX_PENDING_CHARS, `${frame.length} characters`)
    assert.equal(JSON.parse(frame).timestamp, new Date(now + 1).toISOString().replace('Z', '000Z'))
    th.close()
  })
})

describe('database admission gate', () => {
  const ctx = (heavy: boolean) => ({ heavy, onAbort: () => {} })

  it('keeps one connection for light requests while heavy ones wait', async () => {
    const gate = new DbGate(3, 5_000)
    const h1 = await gate.acquire(ctx(true))
    const h2 = await gate.acquire(ctx(true))
    let h3Granted = false
    const h3 = gate.acquire(ctx(true)).then((r) => { h3Granted = true; return r })
    const light = await gate.acquire(ctx(false))
    assert.equal(gate.inUse, 3)
    assert.equal(h3Granted, false, 'heavy requests hold at most slots − 1')
    light()
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(h3Granted, false, 'a light slot freed does not go to a heavy waiter over the share')
    h1()
    ;(await h3)()
    h2()
    assert.equal(gate.inUse, 0)
  })

  it('answers api_busy with Retry-After after the wait bound, and at once past MAX_WAITING', async () => {
    let busy = 0
    const gate = new DbGate(1, 100, () => busy++)
    const held = await gate.acquire(ctx(false))
    const started = Date.now()
    const err = await gate.acquire(ctx(false)).then(() => undefined, (e: unknown) => e)
    assert.ok(err instanceof HttpError)
    assert.equal(err.status, 503)
    assert.equal(err.code, 'api_busy')
    assert.equal(err.headers['Retry-After'], '1')
    assert.ok(Date.now() - started >= 90, 'waited the bound')
    const waiting = Array.from({ length: MAX_WAITING }, () => gate.acquire(ctx(false)).catch(() => {}))
    const over = await gate.acquire(ctx(false)).then(() => undefined, (e: unknown) => e)
    assert.ok(over instanceof HttpError && over.code === 'api_busy')
    assert.equal(busy, 2)
    held()
    await Promise.all(waiting)
  })

  it('drops a waiter whose client went away', async () => {
    const gate = new DbGate(1, 5_000)
    const held = await gate.acquire(ctx(false))
    let abort: () => void = () => {}
    const waiting = gate.acquire({ heavy: false, onAbort: (cb) => { abort = cb } }).then(() => 'granted', () => 'dropped')
    assert.equal(gate.waiting, 1)
    abort()
    assert.equal(await waiting, 'dropped')
    assert.equal(gate.waiting, 0)
    held()
    assert.equal(gate.inUse, 0)
  })

  it('runs heavy requests one at a time, spaced by the backlog share, while ingest is behind; light ones never wait', async () => {
    let behind = true
    const gate = new DbGate(4, 5_000, () => {}, { behind: () => behind, percent: 50 })
    const h1 = await gate.acquire(ctx(true))
    const held = performance.now()
    let grantedAt = 0
    const h2 = gate.acquire(ctx(true)).then((r) => { grantedAt = performance.now(); return r })
    const light = await gate.acquire(ctx(false))
    assert.equal(gate.waiting, 1, 'the second heavy request waits; the light one did not')
    await new Promise((resolve) => setTimeout(resolve, 30))
    h1()
    const released = performance.now()
    ;(await h2)()
    // 50 %: the next heavy request starts no sooner than the first held its connection.
    assert.ok(grantedAt - released >= (released - held) * 0.9, `granted ${(grantedAt - released).toFixed(1)} ms after a hold of ${(released - held).toFixed(1)} ms`)
    light()
    behind = false
    const a = await gate.acquire(ctx(true))
    const b = await gate.acquire(ctx(true))
    assert.equal(gate.inUse, 2, 'without a backlog heavy requests share slots − 1 again')
    a()
    b()
  })

  it('admits a checked-out client (COPY reads) through the same slots, held until release', async () => {
    const pool = new pg.Pool({ connectionString: PG_ADMIN_URL, max: 1 })
    try {
      const gate = new DbGate(1, 5_000)
      const db = gate.wrap(pool)
      const client = await db.connect()
      assert.equal(gate.inUse, 1)
      let answered = false
      const query = db.query('SELECT 1').then(() => { answered = true })
      await new Promise((resolve) => setImmediate(resolve))
      assert.equal(gate.waiting, 1, 'the query waits for the slot, not in pg-pool')
      assert.equal(answered, false)
      client.release()
      await query
      assert.equal(gate.inUse, 0)
      const again = await db.connect()
      again.release(new Error('discarded'))
      assert.equal(gate.inUse, 0)
    } finally {
      await pool.end()
    }
  })
})

describe('Host and Origin checks', () => {
  it('parses Host values', () => {
    assert.equal(hostName('127.0.0.1:8081'), '127.0.0.1')
    assert.equal(hostName('[::1]:8081'), '::1')
    assert.equal(hostName('Example.COM.'), 'example.com')
  })

  it('accepts loopback and configured names only, and nothing is checked with a token', () => {
    const check = hostCheck('', '127.0.0.1', ['cnc.plant.local'])
    assert.ok(check !== null)
    for (const ok of ['127.0.0.1:8081', 'localhost:8081', 'LOCALHOST', '[::1]:8081', 'cnc.plant.local:8081', '']) assert.ok(check(ok), ok)
    for (const bad of ['evil.example:8081', 'evil.example', '127.0.0.1.evil.example', 'cnc.plant.local.evil']) assert.ok(!check(bad), bad)
    assert.ok(hostCheck('', '10.0.0.5', [])?.('10.0.0.5:8081'), 'http.host itself')
    assert.ok(!(hostCheck('', '0.0.0.0', [])?.('0.0.0.0:8081') ?? true), 'a wildcard bind is no name')
    assert.equal(hostCheck('secret', '127.0.0.1', []), null)
    assert.equal(hostCheck('', '127.0.0.1', ['*']), null)
  })

  it('accepts no Origin, the same origin and configured origins only', () => {
    const check = originCheck(['https://ops.example'])
    assert.ok(check('', '127.0.0.1:8081'))
    assert.ok(check('http://127.0.0.1:8081', '127.0.0.1:8081'))
    assert.ok(check('https://ops.example', '127.0.0.1:8081'))
    assert.ok(!check('http://evil.example', '127.0.0.1:8081'))
    assert.ok(!check('http://127.0.0.1:9999', '127.0.0.1:8081'), 'another port is another origin')
    assert.ok(!check('null', '127.0.0.1:8081'))
    assert.ok(originCheck(['*'])('http://evil.example', 'x'))
  })
})

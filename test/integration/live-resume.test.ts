/**
 * Live-feed resume (issue 12) against a running service with the default throttle: exact clients
 * ({"exact": true}) that drop the connection mid-run (mid-commit, too: they forget every frame after
 * the cut) and come back with the cursor of the last frame they kept receive each reading exactly
 * once across the seam, while ingest runs at full rate and a throttled client beside them gets
 * coalesced frames without cursors; bad and too-old cursors are refused with their codes; batches
 * bisected after a data error keep exact cursors (each committed part is its own position).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { encodeCursor } from '../../src/api/live-cursor.js'
import type { Service } from '../../src/service.js'
import { json, reading } from '../helpers/payloads.js'
import { refuseRows } from '../helpers/refuse-rows.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, prefill, waitSettled, type TestEnv } from '../helpers/test-env.js'
import { WsClient, type WsMessage } from '../helpers/ws-client.js'

const LIVE = '/api/v1/live'
const READINGS = Number(process.env.RESUME_READINGS ?? 50_000)
const MACHINES = Array.from({ length: 12 }, (_, i) => `RS-${String(i).padStart(2, '0')}`)
const WATCHED = MACHINES.slice(1, 10)
const SENTINEL = 9_999_999
const enc = new TextEncoder()

const keyOf = (r: Record<string, unknown>): string => `${String(r.machine_id)}#${String(r.active_program_line)}`
const answer = (m: WsMessage): boolean => m.type === 'subscribed' || m.type === 'error'

/**
 * A client that cuts its connection once it holds each of `cuts` readings, at a frame boundary
 * (frames after the cut are ignored as never received), and resumes from its last cursor.
 */
class Resumer {
  readonly counts = new Map<string, number>()
  total = 0
  resumes = 0
  cursor: string | null = null
  #ws: WsClient | undefined
  #seen = 0

  constructor (readonly port: number, readonly subscribe: '*' | string[], readonly cuts: number[]) {}

  async open (since: string | null): Promise<void> {
    this.#ws = await WsClient.connect(this.port, LIVE)
    this.#seen = 0
    this.#ws.send(since === null ? { subscribe: this.subscribe, exact: true } : { subscribe: this.subscribe, since })
    const a = await this.#ws.next(answer, 30_000)
    assert.equal(a.type, 'subscribed', JSON.stringify(a))
  }

  /** Consumes frames until `done()`, cutting and resuming at each cut; fails after `deadlineMs`. */
  async run (done: () => boolean, deadlineMs: number): Promise<void> {
    const until = Date.now() + deadlineMs
    while (!done()) {
      const ws = this.#ws as WsClient
      if (this.#seen >= ws.messages.length) {
        if (Date.now() > until) throw new Error(`timed out: ${this.total} readings, ${this.resumes} resumes`)
        if (ws.closeCode !== undefined) throw new Error(`closed by the server (${ws.closeCode})`)
        await new Promise((resolve) => setTimeout(resolve, 5))
        continue
      }
      const m = ws.messages[this.#seen++] as WsMessage
      assert.notEqual(m.type, 'error', JSON.stringify(m))
      if (m.type !== 'readings') continue
      assert.equal(typeof m.cursor, 'string', 'exact frames carry a cursor')
      for (const r of m.data as Array<Record<string, unknown>>) {
        const k = keyOf(r)
        this.counts.set(k, (this.counts.get(k) ?? 0) + 1)
        this.total++
      }
      this.cursor = m.cursor as string
      if (this.cuts.length > 0 && this.total >= (this.cuts[0] as number)) {
        this.cuts.shift()
        ws.socket.destroy()
        // Away for a moment while ingest goes on: the replay then has something to send.
        await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 150)))
        this.resumes++
        await this.open(this.cursor)
      }
    }
  }

  close (): void { this.#ws?.close() }
}

describe('live feed resume', () => {
  let t: TestEnv
  let service: Service

  before(async () => {
    t = await createTestEnv('RESUME')
    // live.max_per_machine_per_second stays at its default (10): exactness is the client's choice.
    service = await startService(t, { CNC_INGEST_LINGER_MS: '10', CNC_LIVE_MAX_CLIENTS: '8' })
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
  })

  it(`clients resuming five times during a ${READINGS}-reading run receive each reading exactly once`, { timeout: 120_000 }, async (ctx) => {
    const step = (n: number): number[] => [1, 2, 3, 4, 5].map((k) => Math.floor(n * k / 7))
    const watchedCount = Math.floor(READINGS / MACHINES.length) * WATCHED.length + Math.max(0, Math.min(READINGS % MACHINES.length - 1, WATCHED.length))
    const all = new Resumer(service.httpPort, '*', step(READINGS))
    const some = new Resumer(service.httpPort, WATCHED, step(watchedCount))
    await all.open(null)
    await some.open(null)
    const throttled = await WsClient.connect(service.httpPort, LIVE)
    throttled.send({ subscribe: '*' })
    assert.deepEqual(await throttled.next(answer), { type: 'subscribed', machines: '*' })

    const started = Date.now()
    const running = [
      all.run(() => all.counts.has(`RS-01#${SENTINEL}`), 90_000),
      some.run(() => some.counts.has(`RS-01#${SENTINEL}`), 90_000),
    ]
    // Ingest at full rate: the stream fills as fast as core NATS publishes.
    for (let n = 0; n < READINGS; n++) {
      t.nc.publish(`${t.stream}.metrics`, enc.encode(json(reading(MACHINES[n % MACHINES.length] as string, Math.floor(n / MACHINES.length)))))
      if (n % 5_000 === 4_999) await t.nc.flush()
    }
    await t.nc.flush()
    await waitSettled(t, 60_000)
    ctx.diagnostic(`${READINGS} readings committed ${Date.now() - started} ms after the first publish`)
    // A last reading after everything: once a client has it, every frame before it has arrived.
    t.nc.publish(`${t.stream}.metrics`, enc.encode(json(reading('RS-01', SENTINEL))))
    await Promise.all(running)
    const replayed = (await service.metrics.registry.getSingleMetric('cnc_live_readings_replayed_total')?.get())?.values[0]?.value ?? 0
    ctx.diagnostic(`resumes: "*" ${all.resumes}, machines ${some.resumes}; ${replayed} readings replayed from the database; ${Date.now() - started} ms in all`)

    for (const [r, expected] of [[all, READINGS + 1], [some, watchedCount + 1]] as const) {
      assert.equal(r.resumes, 5)
      const twice = [...r.counts].filter(([, n]) => n !== 1)
      assert.deepEqual(twice.slice(0, 5), [], 'no reading twice')
      assert.equal(r.counts.size, expected, 'every reading once')
      assert.equal(r.total, expected)
    }
    assert.ok([...some.counts.keys()].every((k) => WATCHED.includes(k.split('#')[0] as string)), 'only watched machines')

    // The throttled client: latest wins, so it ends with the sentinel; coalesced, no cursors.
    await throttled.next((m) => m.type === 'readings' && (m.data as Array<Record<string, unknown>>).some((r) => r.active_program_line === SENTINEL), 30_000)
    const frames = throttled.messages.filter((m) => m.type === 'readings')
    assert.ok(frames.every((m) => m.cursor === undefined), 'throttled frames carry no cursor')
    const got = frames.reduce((n, m) => n + (m.data as unknown[]).length, 0)
    ctx.diagnostic(`throttled "*" client: ${got + 1} readings of ${READINGS + 1}`)
    assert.ok(got < READINGS, 'throttled: coalesced')
    all.close()
    some.close()
    throttled.close()
  })

  it('refuses a malformed cursor, and one older than live.resume_max_age_s naming the REST route instead', async () => {
    const ws = await WsClient.connect(service.httpPort, LIVE)
    try {
      ws.send({ subscribe: ['RS-01'], since: 'not a cursor' })
      const bad = await ws.next(answer)
      assert.equal(bad.code, 'bad_cursor')

      const rows = await t.query<{ n: string }>('SELECT max(commit_no) AS n FROM live_commits')
      const newest = Number(rows[0]?.n)
      assert.ok(newest > 0, 'the run above left commits')
      await t.query("UPDATE live_commits SET committed_at = now() - interval '2 hours' WHERE commit_no = $1", [newest])
      ws.send({ subscribe: ['RS-01'], since: encodeCursor({ commitNo: newest, machine: 'RS-01' }) })
      const old = await ws.next(answer)
      assert.equal(old.code, 'resume_too_old')
      assert.match(String(old.message), /GET \/api\/v1\/machines\/\{id\}\/data/)

      ws.send({ subscribe: '*', since: encodeCursor({ commitNo: newest + 1_000_000, machine: null }) })
      assert.equal((await ws.next(answer)).code, 'resume_too_old', 'a commit this database never had')

      // Refused resumes subscribe nothing: the connection can still subscribe plainly.
      ws.send({ subscribe: ['RS-02'] })
      assert.deepEqual(await ws.next(answer), { type: 'subscribed', machines: ['RS-02'] })
      ws.send({ subscribe: ['RS-03'], since: encodeCursor({ commitNo: newest, machine: null }) })
      assert.equal((await ws.next(answer)).code, 'resume_unavailable', 'since on a connection that holds a subscription')
    } finally {
      ws.close()
    }
  })
})

describe('live feed resume across a bisected batch', () => {
  let t: TestEnv
  let service: Service

  before(async () => {
    t = await createTestEnv('RESUMEBIS')
    service = await startService(t, { CNC_INGEST_LINGER_MS: '10', CNC_INGEST_BATCH_SIZE: '500' })
    // A row PostgreSQL refuses outside classes 22/23: its batch fails whole, and is bisected.
    await refuseRows((sql) => t.query(sql))
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
  })

  it('every committed part has its own cursor: a resume from any frame sends each stored reading once', { timeout: 120_000 }, async (ctx) => {
    const ws = await WsClient.connect(service.httpPort, LIVE)
    ws.send({ subscribe: '*', exact: true })
    assert.deepEqual(await ws.next(answer), { type: 'subscribed', machines: '*', exact: true })
    const payloads = Array.from({ length: 2_000 }, (_, n) => json(reading(MACHINES[n % 3] as string, n)))
    for (const [at, line] of [[100, 1], [900, 2], [1_700, 3]] as const) payloads.splice(at, 0, json(reading('CNC-BAD', line)))
    await prefill(t, payloads)
    await waitSettled(t, 90_000)
    t.nc.publish(`${t.stream}.metrics`, enc.encode(json(reading('RS-01', SENTINEL))))
    await ws.next((m) => m.type === 'readings' && (m.data as Array<Record<string, unknown>>).some((r) => r.active_program_line === SENTINEL), 30_000)
    const bisected = (await service.metrics.registry.getSingleMetric('cnc_batches_bisected_total')?.get())?.values[0]?.value ?? 0
    assert.ok(bisected > 0, 'a batch was bisected')

    const frames = ws.messages.filter((m) => m.type === 'readings')
    assert.ok(frames.every((m) => typeof m.cursor === 'string'), 'every frame has a cursor, bisected parts too')
    const keys = (list: WsMessage[]): string[] => list.flatMap((m) => (m.data as Array<Record<string, unknown>>).map(keyOf)).sort()
    // The sentinel's frame was taken out above (next() consumes what it matches).
    const stored = (await t.query<{ k: string }>("SELECT machine_id || '#' || active_program_line AS k FROM sensor_data WHERE active_program_line <> $1", [SENTINEL])).map((r) => r.k).sort()
    assert.equal(stored.length, 2_000)
    assert.deepEqual(keys(frames), stored, 'live: each stored reading once')

    // Resume from every frame (up to 40, evenly spread): the replay is exactly what followed it.
    const picks = frames.length <= 40 ? frames.map((_, i) => i) : Array.from({ length: 40 }, (_, k) => Math.floor(k * frames.length / 40))
    ctx.diagnostic(`${frames.length} frames, ${bisected} bisections; resuming from ${picks.length} of them`)
    for (const i of picks) {
      const again = await WsClient.connect(service.httpPort, LIVE)
      try {
        again.send({ subscribe: '*', since: (frames[i] as WsMessage).cursor })
        const done = await again.next((m) => m.type === 'resumed' || m.type === 'error', 30_000)
        assert.equal(done.type, 'resumed', JSON.stringify(done))
        const replayed = again.messages.filter((m) => m.type === 'readings')
        const sentinel = `RS-01#${SENTINEL}`
        assert.deepEqual(keys(replayed).filter((k) => k !== sentinel), keys(frames.slice(i + 1)), `resume from frame ${i}`)
      } finally {
        again.close()
      }
    }
    ws.close()
  })
})

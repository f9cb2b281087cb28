/**
 * The alarm evaluator against PostgreSQL: readings committed in interleaved batches of random sizes
 * while two evaluators (two instances) and a third started half-way (a restart, empty memory) take
 * turns and run at once, give exactly the episodes the pure state machine gives on the whole series,
 * each stored once with its start, end and peak; an episode still open is stored open. Then
 * GET /api/v1/alarms pages through them (each once, newest first) with and without filters.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type pg from 'pg'
import { Registry } from 'prom-client'
import { AlarmEvaluator } from '../../src/alarms/evaluator.js'
import { compileRule, IDLE, step, type AlarmPhase, type AlarmRuleConfig, type AlarmTransition } from '../../src/alarms/rules.js'
import { ApiServer } from '../../src/api/server.js'
import type { ParsedBatch } from '../../src/contracts.js'
import { bucketQuery } from '../../src/store/buckets.js'
import { ShiftCalendar } from '../../src/time/shift-calendar.js'
import { ApiClient, assertNo5xx } from '../helpers/api-client.js'
import { createTestEnv, migratedPool, silentLog, type TestEnv } from '../helpers/test-env.js'

const RULES: AlarmRuleConfig[] = [
  { name: 'hot', field: 'temperature', comparison: '>', threshold: 85, min_duration_seconds: 10, clear_hysteresis: 5, severity: 'critical' },
  { name: 'overload', field: 'spindle_load_percent', comparison: '>', threshold: 110, min_duration_seconds: 5, clear_hysteresis: 0, severity: 'warning', machines: ['M-*'] },
]
const MACHINES = ['M-1', 'M-2', 'X-3']
const N = 600
const T0 = Date.UTC(2025, 4, 1, 8) * 1000

interface Reading { machine: string, us: number, temperature: number, load: number | null }

function series (m: number): Reading[] {
  const out: Reading[] = []
  for (let i = 0; i < N; i++) {
    const temperature = 80 + 9 * Math.sin((i + 13 * m) / 11) + (i % 17 === 0 ? 4 : 0)
    const load = i % 23 === 5 ? null : 100 + 15 * Math.sin((i + 5 * m) / 6)
    out.push({ machine: MACHINES[m] as string, us: T0 + i * 1_000_000 + m * 1000, temperature, load })
  }
  return out
}

const iso = (us: number): string => new Date(us / 1000).toISOString().replace('Z', '000Z')

function expected (readings: Reading[]): string[] {
  const lines: string[] = []
  for (const cfg of RULES) {
    const rule = compileRule(cfg)
    if (!rule.appliesTo(readings[0]?.machine ?? '')) continue
    let phase: AlarmPhase = IDLE
    const out: AlarmTransition[] = []
    for (const r of readings) phase = step(rule, phase, r.us, cfg.field === 'temperature' ? r.temperature : r.load, out)
    const opened = out.filter((x) => x.type === 'open')
    for (const o of opened) {
      const c = out.find((x) => x.type === 'clear' && x.startedUs === o.startedUs)
      const peak = c?.peak ?? (phase.type === 'active' && phase.since === o.startedUs ? phase.peak : o.peak)
      lines.push(`${readings[0]?.machine} ${cfg.name} ${iso(o.startedUs)} ${c === undefined ? 'open' : iso(c.type === 'clear' ? c.endedUs : 0)} ${peak}`)
    }
  }
  return lines
}

function batchOf (rows: Reading[]): ParsedBatch {
  const machines = [...new Set(rows.map((r) => r.machine))]
  return {
    machines,
    rowMachine: Uint32Array.from(rows.map((r) => machines.indexOf(r.machine))),
    rowTimeMs: Float64Array.from(rows.map((r) => r.us / 1000)),
    copy: new Uint8Array(0),
    rowEnds: new Uint32Array(rows.length),
    rowMessage: new Uint32Array(rows.length),
    rowSpan: new Uint32Array(2 * rows.length),
    rejections: [],
    bytes: new Uint8Array(0),
    offsets: new Uint32Array(0),
  }
}

describe('alarm evaluator (PostgreSQL)', () => {
  let t: TestEnv
  let pool: pg.Pool
  before(async () => {
    t = await createTestEnv('ALARMEVAL')
    pool = await migratedPool(t)
  })
  after(async () => {
    await pool?.end()
    await t?.cleanup()
  })

  // late_margin_ms 0: every pass reads to the newest reading; 1,500: passes stop 1.5 s (of reading time)
  // behind the newest committed reading, and catch up once no batch committed for 1.5 s.
  for (const margin of [1_500, 0]) {
    it(`stores each episode once, whatever the batches, concurrent evaluators and restarts (late margin ${margin} ms)`, async (t2) => {
      await pool.query('TRUNCATE sensor_data, alarms, alarm_state')
      const all = MACHINES.map((_, m) => series(m))
      const want = all.flatMap(expected).sort()
      assert.ok(want.length >= 10, `fixture should have several episodes, has ${want.length}`)
      const opts = { rules: RULES, intervalMs: 60_000, lateMarginMs: margin, chunk: 37, push: () => {}, log: silentLog }
      const frames: string[] = []
      const a = new AlarmEvaluator(pool, { ...opts, push: (_id, f) => frames.push(f) })
      const b = new AlarmEvaluator(pool, { ...opts, push: (_id, f) => frames.push(f) })
      let c: AlarmEvaluator | undefined
      const pos = MACHINES.map(() => 0)
      let round = 0
      while (pos.some((p) => p < N)) {
      // One "committed batch": a random slice of each machine's next readings, inserted in one statement.
        const rows: Reading[] = []
        MACHINES.forEach((_, m) => {
          const n = Math.min(N - (pos[m] as number), Math.floor(Math.random() * 40))
          rows.push(...(all[m] as Reading[]).slice(pos[m], (pos[m] as number) + n))
          pos[m] = (pos[m] as number) + n
        })
        if (rows.length === 0) continue
        await pool.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, spindle_load_percent)
        SELECT 'epoch'::timestamptz + u * interval '1 microsecond', m, te, 0, l FROM unnest($1::int8[], $2::text[], $3::float8[], $4::float8[]) AS x(u, m, te, l)`,
        [rows.map((r) => r.us), rows.map((r) => r.machine), rows.map((r) => r.temperature), rows.map((r) => r.load)])
        for (const e of [a, b, c]) e?.committed(batchOf(rows))
        round++
        if (round === 12) c = new AlarmEvaluator(pool, { ...opts, push: (_id, f) => frames.push(f) })
        if (round % 3 === 0) await Promise.all([a.runOnce(), b.runOnce(), c?.runOnce()])
        else await (round % 2 === 0 ? a : b).runOnce()
      }
      if (margin > 0) {
      // Bounded passes left the newest readings for later.
        const [{ n }] = await t.query<{ n: string }>('SELECT count(*) AS n FROM alarm_state WHERE through < (SELECT max(time) FROM sensor_data)') as [{ n: string }]
        assert.ok(Number(n) > 0, 'bounded passes stop short of the newest reading')
        await new Promise((resolve) => setTimeout(resolve, margin + 100))
      }
      // Every evaluator catches up (idle: no upper bound); running them again changes nothing.
      for (let i = 0; i < 2; i++) await Promise.all([a.runOnce(), b.runOnce(), c?.runOnce()])
      const rows = await t.query<{ line: string }>(`SELECT machine_id || ' ' || rule || ' ' || to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || ' ' ||
      COALESCE(to_char(ended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'open') || ' ' || peak_value::text AS line FROM alarms`)
      assert.deepEqual(rows.map((r) => r.line).sort(), want)
      const opened = frames.filter((f) => f.includes('"event":"opened"')).length
      const cleared = frames.filter((f) => f.includes('"event":"cleared"')).length
      assert.equal(opened, want.length, 'one opened frame per episode')
      assert.equal(cleared, want.filter((l) => !l.includes(' open ')).length, 'one cleared frame per ended episode')
      t2.diagnostic(`${want.length} episodes over ${MACHINES.length} × ${N} readings in ${round} batches`)
      await Promise.all([a.close(), b.close(), c?.close()])
    })
  }

  it('puts passes off while ingest is behind, at most backlog_defer_ms since the last pass, and then evaluates everything', async () => {
    await pool.query('TRUNCATE sensor_data, alarms, alarm_state')
    const readings = series(0)
    await pool.query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, spindle_load_percent)
      SELECT 'epoch'::timestamptz + u * interval '1 microsecond', m, te, 0, l FROM unnest($1::int8[], $2::text[], $3::float8[], $4::float8[]) AS x(u, m, te, l)`,
    [readings.map((r) => r.us), readings.map((r) => r.machine), readings.map((r) => r.temperature), readings.map((r) => r.load)])
    let behind = true
    let deferMs = 60_000
    const registry = new Registry()
    const e = new AlarmEvaluator(pool, { rules: RULES, intervalMs: 60_000, lateMarginMs: 0, chunk: 1_000, push: () => {}, log: silentLog, registry, behind: () => behind, get deferMs () { return deferMs } })
    const evaluated = async (): Promise<number> => (await registry.getSingleMetric('cnc_alarm_readings_evaluated_total')?.get())?.values[0]?.value ?? 0
    const deferred = async (): Promise<number> => (await registry.getSingleMetric('cnc_alarm_passes_deferred_total')?.get())?.values[0]?.value ?? 0
    // Behind, within the bound (counted from the start): put off, nothing read.
    await e.runOnce()
    assert.equal(await deferred(), 1)
    assert.equal(await evaluated(), 0)
    // Behind for longer than the bound: the pass runs and evaluates what is stored.
    deferMs = 1
    await new Promise((resolve) => setTimeout(resolve, 5))
    await e.runOnce()
    assert.equal(await deferred(), 1)
    assert.equal(await evaluated(), N)
    e.committed(batchOf(readings))
    // Behind again, within the bound of that pass: put off.
    deferMs = 60_000
    await e.runOnce()
    assert.equal(await deferred(), 2)
    // Caught up: passes run whatever the bound.
    behind = false
    await e.runOnce()
    assert.equal(await deferred(), 2)
    const [{ n }] = await t.query<{ n: string }>('SELECT count(*) AS n FROM alarm_state WHERE through = (SELECT max(time) FROM sensor_data)') as [{ n: string }]
    assert.equal(Number(n), RULES.filter((r) => r.machines === undefined || r.machines.some((m) => MACHINES[0]?.startsWith(m.replace('*', '')))).length)
    await e.close()
  })

  it('GET /api/v1/alarms pages through every episode once, newest first, with the filters kept in the cursor', async () => {
    const plant = t.config().plant
    const server = new ApiServer({
      host: '127.0.0.1',
      port: 0,
      registry: new Registry(),
      readiness: { check: async () => null, details: () => ({}) },
      log: silentLog,
      store: () => ({ db: pool, buckets: bucketQuery('postgres') }),
      authToken: '',
      plant: { calendar: new ShiftCalendar(plant), runningStates: ['RUNNING'], maxGapSeconds: 300, microStopSeconds: 120, offlineAfterSeconds: 300 },
    })
    await server.start()
    try {
      const api = new ApiClient(`http://127.0.0.1:${server.port}`)
      interface Page { count: number, has_more: boolean, next_cursor: string | null, data: Array<{ id: number, machine_id: string, started_at: string, ended_at: string | null, active: boolean }> }
      const all = async (query: string): Promise<Page['data']> => {
        const out: Page['data'] = []
        let cursor: string | null = null
        for (let n = 0; n < 100; n++) {
          const r = await api.get(`/api/v1/alarms?limit=7&${query}${cursor === null ? '' : '&cursor=' + cursor}`)
          assert.equal(r.status, 200, r.text)
          const page = r.json<Page>()
          out.push(...page.data)
          cursor = page.next_cursor
          if (!page.has_more) break
        }
        return out
      }
      const stored = await t.query<{ id: string, machine_id: string, open: boolean, started: Date, ended: Date | null }>(
        'SELECT id::text, machine_id, ended_at IS NULL AS open, started_at AS started, ended_at AS ended FROM alarms ORDER BY started_at DESC, id DESC')
      const every = await all('')
      assert.deepEqual(every.map((x) => String(x.id)), stored.map((x) => x.id), 'every episode once, newest first')
      const m2 = await all('machine_id=M-2&active=false')
      assert.deepEqual(m2.map((x) => String(x.id)), stored.filter((x) => x.machine_id === 'M-2' && !x.open).map((x) => x.id))
      const open = await all('active=true')
      assert.deepEqual(open.map((x) => String(x.id)), stored.filter((x) => x.open).map((x) => x.id))
      // Window: episodes overlapping 08:03–08:05.
      const ws = Date.UTC(2025, 4, 1, 8, 3)
      const we = Date.UTC(2025, 4, 1, 8, 5)
      const inWindow = stored.filter((x) => x.started.getTime() <= we && (x.ended === null || x.ended.getTime() >= ws)).map((x) => x.id)
      assert.ok(inWindow.length > 0)
      assert.deepEqual((await all('start_time=2025-05-01T08:03:00Z&end_time=2025-05-01T08:05:00Z')).map((x) => String(x.id)), inWindow)
      for (const bad of ['active=yes', 'cursor=abc', 'start_time=yesterday', 'limit=0', 'start_time=2025-05-02T00:00:00Z&end_time=2025-05-01T00:00:00Z']) {
        const r = await api.get('/api/v1/alarms?' + bad)
        assert.equal(r.status, 400, `${bad}: ${r.text}`)
      }
      assertNo5xx(api)
    } finally {
      server.close()
    }
  })
})

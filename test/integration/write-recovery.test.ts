/**
 * The running service when the database refuses: every insert refused with 53100 (a trigger standing
 * in for a full disk) → /readyz 503 naming it, nothing nak'd, every reading stored once within 15 s
 * of the refusal ending (defaults); rows failing deterministically with XX000 / 53200 → bisected and
 * dead-lettered alone; writes waiting on a lock → 503 "stalled"; a blocked event loop → 503.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type pg from 'pg'
import type { Service } from '../../src/service.js'
import { json, reading } from '../helpers/payloads.js'
import { refuseRows } from '../helpers/refuse-rows.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, migratedPool, prefill, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'

interface Ready { status: number, checks: Record<string, string> }

async function readyz (s: Service): Promise<Ready> {
  const r = await fetch(`http://127.0.0.1:${s.httpPort}/readyz`, { signal: AbortSignal.timeout(5_000) })
  const body = await r.json() as { checks?: Record<string, string> }
  return { status: r.status, checks: body.checks ?? {} }
}

const counter = async (c: { get: () => Promise<{ values: Array<{ value: number }> }> }): Promise<number> =>
  (await c.get()).values.reduce((s, v) => s + v.value, 0)

describe('service when the database refuses writes', () => {
  let t: TestEnv
  let pool: pg.Pool
  let service: Service | undefined
  beforeEach(async () => {
    t = await createTestEnv('WRECOVER')
    pool = await migratedPool(t)
  })
  afterEach(async () => {
    await service?.close()
    service = undefined
    await pool.end()
    await t.cleanup()
  })

  const rows = async (machine: string): Promise<{ rows: number, distinct: number }> => {
    const [r] = await t.query<{ rows: number, distinct: number }>(
      'SELECT count(*)::int AS rows, count(DISTINCT active_program_line)::int AS distinct FROM sensor_data WHERE machine_id = $1', [machine])
    return r ?? { rows: 0, distinct: 0 }
  }

  it('reports 53100 refusals as not ready, naks nothing, and recovers within 15 s of them ending', async (ctx) => {
    const total = 20_000
    await pool.query('CREATE TABLE fault_switch (refuse boolean NOT NULL)')
    await pool.query('INSERT INTO fault_switch VALUES (true)')
    await pool.query(`CREATE FUNCTION refuse_all () RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF (SELECT refuse FROM fault_switch) THEN RAISE EXCEPTION 'could not extend file (simulated)' USING ERRCODE = 'disk_full'; END IF;
        RETURN NULL;
      END $$`)
    await pool.query('CREATE TRIGGER refuse_all BEFORE INSERT ON sensor_data FOR EACH STATEMENT EXECUTE FUNCTION refuse_all()')
    await prefill(t, Array.from({ length: total }, (_, n) => json(reading('DISK', n))))
    service = await startService(t)
    const s = service
    await waitFor('/readyz to report refused writes', async () => (await readyz(s)).checks.database?.startsWith('writes refused') === true, 15_000)
    let refused = 0
    let other = 0
    const until = Date.now() + 4_000
    while (Date.now() < until) {
      const r = await readyz(s)
      if (r.status === 503 && r.checks.database === 'writes refused: SQLSTATE 53100') refused++
      else other++
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.equal((await rows('DISK')).rows, 0)
    const freedAt = Date.now()
    await pool.query('UPDATE fault_switch SET refuse = false')
    await waitFor('ingest to resume', async () => (await rows('DISK')).rows > 0, 60_000, 50)
    const resumeMs = Date.now() - freedAt
    await waitFor('every reading stored', async () => (await rows('DISK')).rows >= total, 60_000, 50)
    const recoveryMs = Date.now() - freedAt
    await waitSettled(t)
    await waitFor('/readyz 200 again', async () => (await readyz(s)).status === 200, 10_000)
    const r = await rows('DISK')
    ctx.diagnostic(`readyz during refusal: ${refused} × 503 writes refused, ${other} × other; resumed after ${resumeMs} ms, all stored after ${recoveryMs} ms; ` +
      `retries ${await counter(s.metrics.writeRetries)}; rows ${r.rows} (distinct ${r.distinct})`)
    assert.equal(other, 0, 'every /readyz during the refusal answered 503 naming it')
    // The target: ingest resumes within 15 s of the cause going away (retries back off to 2 s).
    assert.ok(resumeMs < 15_000, `resumed ${resumeMs} ms after the refusal ended`)
    assert.deepEqual(r, { rows: total, distinct: total })
    assert.equal(await counter(s.metrics.nakd), 0, 'nothing nak\'d')
    assert.equal((await t.consumerInfo()).num_redelivered, 0, 'nothing redelivered')
  })

  it('bisects batches whose rows fail deterministically (XX000, 53200) and dead-letters only those', async () => {
    await refuseRows((sql) => pool.query(sql), `
      IF NEW.machine_id = 'CNC-BAD' AND NEW.active_program_line % 2 = 0 THEN RAISE EXCEPTION 'simulated internal error' USING ERRCODE = 'XX000'; END IF;
      IF NEW.machine_id = 'CNC-BAD' THEN RAISE EXCEPTION 'simulated lock table full' USING ERRCODE = '53200'; END IF;`)
    const payloads = Array.from({ length: 3_000 }, (_, n) => json(reading('GOOD', n)))
    for (const [at, line] of [[10, 0], [1_500, 1], [1_501, 2], [2_999, 3]] as const) payloads.splice(at, 0, json(reading('CNC-BAD', line)))
    await prefill(t, payloads)
    service = await startService(t, { CNC_INGEST_BATCH_SIZE: '1000' })
    await waitSettled(t, 60_000)
    assert.deepEqual(await rows('GOOD'), { rows: 3_000, distinct: 3_000 })
    assert.equal((await rows('CNC-BAD')).rows, 0)
    const dead = await t.query<{ reason: string, detail: string }>('SELECT reason, detail FROM rejected_messages ORDER BY stream_seq')
    assert.deepEqual(dead.map((d) => [d.reason, d.detail.slice(0, 14)]),
      [['db_rejected', 'SQLSTATE XX000'], ['db_rejected', 'SQLSTATE 53200'], ['db_rejected', 'SQLSTATE XX000'], ['db_rejected', 'SQLSTATE 53200']])
    assert.equal(await counter(service.metrics.nakd), 0, 'nothing nak\'d')
    assert.ok(await counter(service.metrics.bisected) > 0)
  })

  it('reports a stall while writes wait on a lock, and a blocked event loop', async () => {
    service = await startService(t, {
      CNC_INGEST_STALL_AFTER_MS: '2000',
      CNC_DATABASE_INGEST_LOCK_TIMEOUT_MS: '0',
      CNC_INGEST_MAX_EVENT_LOOP_DELAY_MS: '1000',
    })
    const s = service
    await waitFor('ready', async () => (await readyz(s)).status === 200, 15_000)
    const locker = await pool.connect()
    try {
      await locker.query('BEGIN')
      await locker.query('LOCK TABLE sensor_data IN ACCESS EXCLUSIVE MODE')
      await prefill(t, Array.from({ length: 500 }, (_, n) => json(reading('STALL', n))))
      await waitFor('/readyz to report the stall', async () => (await readyz(s)).checks.ingest?.startsWith('stalled') === true, 15_000)
      const text = await s.metrics.registry.getSingleMetricAsString('cnc_ingest_stalled')
      assert.match(text, /^cnc_ingest_stalled 1$/m)
    } finally {
      await locker.query('COMMIT')
      locker.release()
    }
    await waitSettled(t)
    await waitFor('ready after the lock', async () => (await readyz(s)).status === 200, 15_000)
    assert.equal((await rows('STALL')).rows, 500)

    // Block the event loop 1.5 s, then look for the report while the block is remembered (5 s). On a
    // starved box the background readiness check may miss that window: block again, up to a deadline.
    const deadline = Date.now() + 60_000
    let seen = false
    while (!seen && Date.now() < deadline) {
      const until = Date.now() + 1_500
      while (Date.now() < until) { /* block the event loop */ }
      const lookUntil = Date.now() + 4_000
      while (!seen && Date.now() < lookUntil) {
        seen = (await readyz(s)).checks.event_loop?.startsWith('blocked') === true
        if (!seen) await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    assert.ok(seen, '/readyz reported the blocked event loop')
  })
})

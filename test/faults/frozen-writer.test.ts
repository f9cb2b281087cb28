/**
 * Fault 9: two instances on one durable consumer; one is frozen (SIGSTOP) while its backend holds
 * the per-stream ledger lock inside its transaction. PostgreSQL ends that transaction
 * (database.ingest_idle_in_transaction_timeout_ms, 5 s by default) and the other instance, whose lock
 * waits fail after database.ingest_lock_timeout_ms and are retried in place, carries on. After SIGCONT
 * the frozen instance finds its connection gone, retries its held batches, and the ledger shows them
 * committed by the other instance: acked, not written twice.
 *
 * The ledger INSERT is slowed by a trigger (300 ms) until the test has caught instance A inside the lock.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { FULL, Faults, sleep, waitFor } from './harness.js'
import { assertAccounting, prefill, rowCount } from './load.js'

const run = promisify(execFile)
const TOTAL = FULL ? 200_000 : 30_000
const FROZEN_MS = FULL ? 60_000 : 10_000
/** Stated bound: idle-in-transaction timeout (5 s) + one lock wait (≤ 5 s) + backoff and a commit. */
const TAKEOVER_BOUND_MS = 15_000

/** The OS process that owns the client end of a PostgreSQL backend's connection. */
async function ownerOfClientPort (pgPort: number, clientPort: number): Promise<number | undefined> {
  const { stdout } = await run('ss', ['-tnpH', 'state', 'established', `( dport = :${pgPort} )`])
  for (const line of stdout.split('\n')) {
    const cols = line.trim().split(/\s+/)
    const local = cols[2] ?? ''
    if (local.endsWith(`:${clientPort}`)) return Number(/pid=(\d+)/.exec(line)?.[1])
  }
  return undefined
}

describe('fault 9: an instance frozen inside its transaction, holding the ledger lock', () => {
  let f: Faults
  before(async () => { f = await Faults.start() })
  after(async () => { await f?.stop() })

  it('lets the other instance carry on within the bound and duplicates nothing after SIGCONT', async (t) => {
    // Room for both instances' batches: a frozen instance's deliveries must not use up max_ack_pending.
    const env = { CNC_NATS_MAX_ACK_PENDING: '100000', CNC_INGEST_BATCH_SIZE: '2000' }
    const a = f.spawnService({ env })
    const b = f.spawnService({ env })
    await Promise.all([a.waitReady(), b.waitReady()])
    // Slow only until A is caught: the switch is a row, so turning it off waits for no lock.
    await f.query('CREATE TABLE slow_switch (slow boolean NOT NULL)')
    await f.query('INSERT INTO slow_switch VALUES (true)')
    await f.query(`CREATE FUNCTION slow_ledger () RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF (SELECT slow FROM slow_switch) THEN PERFORM pg_sleep(0.3); END IF; RETURN NULL; END $$`)
    await f.query('CREATE TRIGGER slow_ledger BEFORE INSERT ON ingest_ledger FOR EACH STATEMENT EXECUTE FUNCTION slow_ledger()')
    await prefill(f, 0, TOTAL)
    await waitFor('both instances committing', async () =>
      await a.metric('cnc_messages_committed_total') > 0 && await b.metric('cnc_messages_committed_total') > 0, 60_000, 50)

    // Catch A's backend inside the ledger lock and freeze A there. Confirmed once the trigger's sleep
    // is over: A's backend must then sit idle in its transaction, holding the lock (A may have sent
    // its COMMIT just before the signal landed: then let it go and try again).
    const lockHolder = async (): Promise<{ owner: number | undefined, state: string } | undefined> => {
      const [h] = await f.query<{ port: number, state: string }>(`SELECT a.client_port AS port, a.state FROM pg_locks l
        JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'cnc-monitor-ingest'`)
      return h === undefined ? undefined : { owner: await ownerOfClientPort(f.pg.port, h.port), state: h.state }
    }
    let frozenAt = 0
    for (let attempt = 1; ; attempt++) {
      await waitFor('instance A to hold the ledger lock', async () => {
        if ((await lockHolder())?.owner !== a.pid) return false
        a.kill('SIGSTOP')
        frozenAt = Date.now()
        return true
      }, 60_000, 10)
      await sleep(400)
      const h = await lockHolder()
      if (h?.owner === a.pid && h.state === 'idle in transaction') break
      a.kill('SIGCONT')
      assert.ok(attempt < 20, 'caught instance A inside the lock')
    }
    t.diagnostic(`A frozen inside the ledger lock; its backend idle in transaction ${Date.now() - frozenAt} ms later`)
    const mark = await rowCount(f)
    await f.query('UPDATE slow_switch SET slow = false')
    try {
      await waitFor('the other instance to commit again', async () => (await rowCount(f)) > mark, TAKEOVER_BOUND_MS + 15_000, 50)
      const takeoverMs = Date.now() - frozenAt
      t.diagnostic(`takeover: instance B committed ${takeoverMs} ms after A was frozen inside the lock`)
      assert.ok(takeoverMs < TAKEOVER_BOUND_MS, `takeover within ${TAKEOVER_BOUND_MS} ms (${takeoverMs} ms)`)
      const rest = FROZEN_MS - (Date.now() - frozenAt)
      if (rest > 0) await sleep(rest)
    } finally {
      a.kill('SIGCONT')
    }
    const acc = await assertAccounting(f, { valid: TOTAL, published: TOTAL })
    t.diagnostic(`accounts ${JSON.stringify(acc)}; A: committed ${await a.metric('cnc_messages_committed_total')}, ` +
      `already committed (ledger) ${await a.metric('cnc_messages_already_committed_total')}, retries ${await a.metric('cnc_write_retries_total')}; ` +
      `B: committed ${await b.metric('cnc_messages_committed_total')}, retries ${await b.metric('cnc_write_retries_total')}`)
    assert.ok(a.alive && b.alive, 'both processes are the ones that started')
    await a.waitReady(30_000)
  })
})

/**
 * The API on a streaming replica: a private primary (the fault harness's) and a replica built from it
 * (`pg_basebackup -R`, its own port), the service with database.api_url on the replica.
 *
 *   - API reads are answered by the replica (its pg_stat_activity holds the API pool; the primary's
 *     does not) and return every committed reading once replayed;
 *   - cnc_db_replica_lag_seconds is exported, /readyz details say `api_database: replica` and the lag;
 *     with replay paused on the replica the lag grows and the API answers the replayed rows only;
 *   - the replica stopped (-m immediate): API reads answer 503 database_unavailable, /readyz stays 200
 *     (details `api_database: unavailable`), ingest goes on; the replica back: reads answer again.
 * Accounting exact at the end.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import pg from 'pg'
import { Faults, PgCluster, freePort, waitFor, type ServiceProc } from '../faults/harness.js'
import { assertAccounting, prefill, rowCount } from '../faults/load.js'

const run = promisify(execFile)
const PG_BIN = process.env.FAULTS_PG_BIN ?? '/usr/lib/postgresql/15/bin'
const FIRST = 4_000
const PAUSED = 500
const SECOND = 3_000
const TOTAL = FIRST + PAUSED + SECOND
const WINDOW = 'start_time=2025-07-13T09:59:00Z&end_time=2025-07-13T11:00:00Z&limit=10000'

/** Readings of machine F1 among valid readings [0, n) (load.ts: machine F<n % 16>). */
const f1Count = (n: number): number => Math.floor((n - 1) / 16) + 1

async function buildReplica (f: Faults): Promise<PgCluster> {
  const dir = join(f.dir, 'replica')
  const args = ['-h', '127.0.0.1', '-p', String(f.pg.port), '-U', 'root', '-D', dir, '-R', '-X', 'stream', '-c', 'fast']
  const bin = join(PG_BIN, 'pg_basebackup')
  // The PostgreSQL binaries refuse to run as root (as in the fault harness).
  if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', bin, ...args])
  else await run(bin, args)
  const replica = new PgCluster(await freePort(), dir)
  await replica.start()
  return replica
}

async function apiCount (s: ServiceProc): Promise<{ status: number, count: number, code: string }> {
  const r = await fetch(`http://127.0.0.1:${s.port}/api/v2/machines/F1/data?${WINDOW}`, { signal: AbortSignal.timeout(10_000) })
  const body = await r.json() as { count?: number, error?: { code: string } }
  return { status: r.status, count: body.count ?? -1, code: body.error?.code ?? '' }
}

async function apiSessions (url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const r = await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'cnc-monitor-api'")
    return Number(r.rows[0]?.n)
  } finally {
    await c.end()
  }
}

async function replicaSql (url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try { await c.query(sql) } finally { await c.end() }
}

async function details (s: ServiceProc): Promise<{ status: number, details: Record<string, string> }> {
  const r = await s.readyz()
  return { status: r.status, details: (JSON.parse(r.body) as { details: Record<string, string> }).details }
}

describe('API on a streaming read replica', () => {
  let f: Faults
  let replica: PgCluster | undefined
  before(async () => {
    f = await Faults.start()
    replica = await buildReplica(f)
  })
  after(async () => {
    await replica?.stop('immediate')
    await f?.stop()
  })

  it('answers from the replica, exports its lag, and degrades only the API when it stops', async (t) => {
    const r = replica as PgCluster
    await prefill(f, 0, FIRST)
    const s = f.spawnService({ env: { CNC_DATABASE_API_URL: r.url } })
    await s.waitReady(60_000)
    await waitFor('the primary to hold the first readings', async () => await rowCount(f) === FIRST, 60_000, 100)
    await waitFor('the API (replica) to return them', async () => (await apiCount(s)).count === f1Count(FIRST), 30_000, 100)
    for (const path of ['/api/v1/machines', '/api/v1/machines/F1/latest', '/api/v1/rejected', `/api/v2/machines/F1/data?${WINDOW}&bucket=1m&agg=avg`]) {
      const res = await fetch(`http://127.0.0.1:${s.port}${path}`)
      assert.equal(res.status, 200, `${path} answers from the replica`)
    }
    assert.ok(await apiSessions(r.url) > 0, 'the API pool is connected to the replica')
    assert.equal(await apiSessions(f.pg.url), 0, 'and not to the primary')
    const lag = await s.metric('cnc_db_replica_lag_seconds')
    assert.ok(Number.isFinite(lag) && lag >= 0, `cnc_db_replica_lag_seconds exported: ${lag}`)
    await waitFor('/readyz details naming the replica', async () => (await details(s)).details.api_database === 'replica', 15_000, 100)
    const ready = await details(s)
    assert.equal(ready.status, 200)
    assert.match(ready.details.replica_lag_seconds ?? '', /^\d+(\.\d+)?(e-\d+)?$/)

    // Replay paused on the replica: new rows reach the primary, the API still answers the old ones and
    // the exported lag grows (what a client needing fresher data than the lag must know).
    await replicaSql(r.url, 'SELECT pg_wal_replay_pause()')
    await prefill(f, FIRST, FIRST + PAUSED)
    await waitFor('the primary to hold the readings published while replay is paused', async () => await rowCount(f) === FIRST + PAUSED, 60_000, 100)
    await waitFor('the lag to show', async () => await s.metric('cnc_db_replica_lag_seconds') >= 1, 30_000, 200)
    const pausedLag = await s.metric('cnc_db_replica_lag_seconds')
    assert.equal((await apiCount(s)).count, f1Count(FIRST), 'the API answers what the replica has replayed')
    assert.ok(Number((await details(s)).details.replica_lag_seconds) >= 1, '/readyz details show the lag')
    await replicaSql(r.url, 'SELECT pg_wal_replay_resume()')
    await waitFor('the replica to catch up', async () => (await apiCount(s)).count === f1Count(FIRST + PAUSED), 30_000, 100)

    await r.stop('immediate')
    const downAt = Date.now()
    await waitFor('API reads to answer 503', async () => (await apiCount(s)).status === 503, 30_000, 100)
    const down = await apiCount(s)
    assert.equal(down.code, 'database_unavailable')
    await waitFor('/readyz to report the replica away', async () => (await details(s)).details.api_database === 'unavailable', 15_000, 100)
    assert.equal((await details(s)).status, 200, 'the instance stays ready: ingest does not depend on the replica')
    assert.ok(Number.isNaN(await s.metric('cnc_db_replica_lag_seconds')), 'lag unknown while the replica is away')
    await prefill(f, FIRST + PAUSED, FIRST + PAUSED + SECOND)
    await waitFor('ingest to go on without the replica', async () => await rowCount(f) === FIRST + PAUSED + SECOND, 60_000, 100)
    const ingestMs = Date.now() - downAt

    await r.start()
    const upAt = Date.now()
    await waitFor('the API to answer again with every reading', async () => (await apiCount(s)).count === f1Count(TOTAL), 60_000, 200)
    const backMs = Date.now() - upAt
    const acc = await assertAccounting(f, { valid: TOTAL, published: TOTAL })
    t.diagnostic(`lag while streaming ${lag} s, with replay paused ${pausedLag} s; replica down: API 503 ${down.code}, /readyz 200, ${SECOND} readings ingested meanwhile (${ingestMs} ms); ` +
      `replica back: API complete after ${backMs} ms; accounts ${JSON.stringify(acc)}`)
  })
})

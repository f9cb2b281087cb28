/**
 * Issue 16's table: the query API beside the original Go design, on the same database, in one run.
 *
 *   flock -x /tmp/cnc-cpu.lock npx tsx bench/api-vs-seed.ts     (API_VS_SECONDS=6 per measurement, API_VS_ROUNDS=3)
 *   PERF_ONLY=api npm run perf                                  (once perf.ts calls runApiVsSeed())
 *
 * A private database gets 200,000 readings of one machine at 10 Hz and 20 registered machines
 * (inserted directly: this measures reads). Our service (dist/main.js, private stream and consumer)
 * and the original (the seed-go binary, its own private stream; ../shared/baselines/run.sh builds it)
 * serve it side by side; wrk (Debian package) loads each in turn:
 *
 *   10,000-row windows, one client       p50 (every request a different window, on the 0.1 s grid)
 *   10,000-row windows, 4 clients        req/s, and the CPU split (server process / PostgreSQL)
 *   GET /api/v1/machines, 32 connections req/s, both
 *   /machines/{id}/latest, /fleet/latest req/s, ours, against the original's /machines
 *
 * The window measurements run in API_VS_ROUNDS rounds (3), the servers alternated, medians reported.
 * Both answer the same window with the same number of readings (checked before timing).
 * The box is shared: figures are a floor, the ratio between the two servers is what counts.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createBenchEnv, NATS_URL, sleep } from './lib/env.js'
import { CpuSplit } from './lib/procstat.js'
import { renderTable, type Row } from './lib/report.js'
import { startService } from './lib/service.js'
import { insertWindowReadings, windowsScript, WINDOW_MACHINE as MACHINE, wrk, type WrkResult } from './lib/wrk.js'

const SECONDS = Number(process.env.API_VS_SECONDS ?? 6)
/** Rounds of the window measurements (API_VS_ROUNDS), each server once per round; medians reported. */
const ROUNDS = Number(process.env.API_VS_ROUNDS ?? 3)
const SEED_GO = process.env.SEED_GO_BIN ?? '/tmp/cnc-baselines/seed-go-bin/monitor'
/** wrk with a CPU meter around it: cores used by `pid` and by all postgres processes. */
async function wrkCpu (pid: number, url: string, connections: number, seconds: number, script?: string): Promise<WrkResult & { server: number, postgres: number }> {
  const cpu = new CpuSplit(pid)
  cpu.start()
  const r = await wrk(url, connections, seconds, script)
  const s = cpu.stop()
  return { ...r, server: s.cores.service, postgres: s.cores.postgres }
}

async function startSeedGo (env: { stream: string, databaseUrl: string }, port: number): Promise<{ proc: ChildProcess, stop: () => Promise<void> }> {
  if (!existsSync(SEED_GO)) throw new Error(`${SEED_GO} is missing: build it with SEED_GO_OUT=$(dirname ${SEED_GO}) bash ../shared/baselines/seed-go/build.sh`)
  const db = new URL(env.databaseUrl)
  db.searchParams.set('sslmode', 'disable')
  const stream = `${env.stream}_GO`
  const proc = spawn(SEED_GO, [], {
    env: {
      PATH: process.env.PATH ?? '',
      NATS_URL,
      NATS_STREAM_NAME: stream,
      NATS_CONSUMER_NAME: `${stream}_P`,
      DATABASE_URL: db.toString(),
      SERVER_HOST: '127.0.0.1',
      SERVER_PORT: String(port),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const log: string[] = []
  proc.stderr?.on('data', (d: Buffer) => { log.push(d.toString()); if (log.length > 20) log.shift() })
  const until = Date.now() + 20_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`seed-go exited with ${proc.exitCode}: ${log.join('')}`)
    try {
      if ((await fetch(`http://127.0.0.1:${port}/api/v1/machines`)).ok) break
    } catch { /* not listening yet */ }
    if (Date.now() > until) throw new Error(`seed-go did not answer within 20 s: ${log.join('')}`)
    await sleep(100)
  }
  return {
    proc,
    async stop () {
      if (proc.exitCode !== null) return
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(t)
    },
  }
}

const fmt = (v: number, digits = 0): string => Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—'

/** Runs the comparison; returns the rows of the table (bench/lib/report.ts Row). */
export async function runApiVsSeed (seconds = SECONDS): Promise<Row[]> {
  const env = await createBenchEnv('APIVS')
  const dir = mkdtempSync(join(tmpdir(), 'api-vs-seed-'))
  const rows: Row[] = []
  let ours: Awaited<ReturnType<typeof startService>> | undefined
  let go: Awaited<ReturnType<typeof startSeedGo>> | undefined
  try {
    ours = await startService(env.cnc, 'api')
    // The HTTP server listens before start-up has created and migrated the database.
    const readyBy = Date.now() + 60_000
    while ((await fetch(`http://127.0.0.1:${ours.port}/readyz`)).status !== 200) {
      if (Date.now() > readyBy) throw new Error('our service was not ready within 60 s')
      await sleep(100)
    }
    await insertWindowReadings((sql) => env.query(sql))
    await env.query(`INSERT INTO machines (id, name, location, controller_type, max_spindle_speed_rpm, axis_count)
      SELECT 'CNC-BENCH-' || lpad(m::text, 2, '0'), 'Mill ' || m, 'Hall ' || (m % 3), 'Fanuc 31i', 12000, 5 FROM generate_series(1, 20) m`)
    await env.query('VACUUM ANALYZE machines')
    const goPort = 20_000 + (process.pid % 20_000)
    go = await startSeedGo(env, goPort)
    const urls = { ours: `http://127.0.0.1:${ours.port}`, go: `http://127.0.0.1:${goPort}` }

    // Same window, same readings from both.
    const probe = `/api/v1/machines/${MACHINE}/data?start_time=2025-07-13T01:00:00Z&end_time=2025-07-13T01:16:39.9Z&limit=10000`
    const a = await (await fetch(urls.ours + probe)).json() as Array<{ timestamp: string, temperature: number }>
    const b = await (await fetch(urls.go + probe)).json() as Array<{ timestamp: string, temperature: number }>
    const same = a.length === 10_000 && b.length === 10_000 && a.every((r, i) => Date.parse(r.timestamp) === Date.parse(b[i]?.timestamp ?? '') && r.temperature === b[i]?.temperature)
    const check = same ? 'same 10,000 readings from both' : `MISMATCH: ours ${a.length}, Go ${b.length} readings`

    const script = windowsScript(dir)
    const run = async (name: string, f: () => Promise<WrkResult & Partial<{ server: number, postgres: number }>>): Promise<WrkResult & Partial<{ server: number, postgres: number }>> => {
      process.stdout.write(`[api-vs-seed] ${name}\n`)
      return f()
    }
    const warm = (url: string): Promise<WrkResult> => wrk(url, 4, 1, script)
    await warm(urls.ours + '/')
    await warm(urls.go + '/')
    // Windows: ROUNDS rounds, the two servers alternated within each, medians reported (the VM's speed drifts
    // by ±20 % over minutes; alternating keeps both servers' runs in the same stretch of it).
    type Measured = WrkResult & Partial<{ server: number, postgres: number }>
    const runs: Record<'p50Go' | 'p50Ours' | 'c4Go' | 'c4Ours', Measured[]> = { p50Go: [], p50Ours: [], c4Go: [], c4Ours: [] }
    for (let round = 1; round <= ROUNDS; round++) {
      runs.p50Go.push(await run(`windows, 1 client, original (round ${round}/${ROUNDS})`, () => wrk(urls.go + '/', 1, seconds, script)))
      runs.p50Ours.push(await run(`windows, 1 client, ours (round ${round}/${ROUNDS})`, () => wrk(urls.ours + '/', 1, seconds, script)))
      runs.c4Go.push(await run(`windows, 4 clients, original (round ${round}/${ROUNDS})`, () => wrkCpu(go?.proc.pid as number, urls.go + '/', 4, seconds, script)))
      runs.c4Ours.push(await run(`windows, 4 clients, ours (round ${round}/${ROUNDS})`, () => wrkCpu(ours?.pid as number, urls.ours + '/', 4, seconds, script)))
    }
    const medianBy = (rs: Measured[], key: 'p50ms' | 'rps'): Measured => [...rs].sort((x, y) => x[key] - y[key])[Math.floor((rs.length - 1) / 2)] as Measured
    const p50Go = medianBy(runs.p50Go, 'p50ms')
    const p50Ours = medianBy(runs.p50Ours, 'p50ms')
    const c4Go = medianBy(runs.c4Go, 'rps')
    const c4Ours = medianBy(runs.c4Ours, 'rps')
    const list = (rs: Measured[], key: 'p50ms' | 'rps'): string => rs.map((r) => fmt(r[key], 1)).join(' / ')
    const spread = (key: 'p50ms' | 'rps', a: Measured[], b: Measured[]): string => ROUNDS > 1 ? `; median of ${ROUNDS} alternated runs, ours ${list(a, key)}, original ${list(b, key)}` : ''
    await wrk(urls.go + '/api/v1/machines', 32, 1)
    await wrk(urls.ours + '/api/v1/machines', 32, 1)
    const mGo = await run('/machines, 32 connections, original', () => wrkCpu(go?.proc.pid as number, urls.go + '/api/v1/machines', 32, seconds))
    const mOurs = await run('/machines, 32 connections, ours', () => wrkCpu(ours?.pid as number, urls.ours + '/api/v1/machines', 32, seconds))
    const latest = await run('/latest, 32 connections, ours', () => wrkCpu(ours?.pid as number, `${urls.ours}/api/v1/machines/${MACHINE}/latest`, 32, seconds))
    const fleet = await run('/fleet/latest, 32 connections, ours', () => wrkCpu(ours?.pid as number, `${urls.ours}/api/v1/fleet/latest`, 32, seconds))

    const errs = (...rs: WrkResult[]): string => rs.some((r) => r.errors > 0) ? `; ERRORS ${rs.map((r) => r.errors).join('/')}` : ''
    const cpu = (r: Partial<{ server: number, postgres: number }>): string => `server ${fmt(r.server ?? NaN, 2)} + PostgreSQL ${fmt(r.postgres ?? NaN, 2)} cores`
    const ratio = (ourV: number, goV: number, target: number, higher: boolean): string => {
      const x = ourV / goV
      const met = higher ? x >= target : x <= target
      return `${fmt(x, 2)}× (target ${higher ? '≥' : '≤'} ${target}×): ${met ? 'MET' : 'MISSED'}`
    }
    rows.push(
      { phase: 'api', case: '10,000-row window, 1 client', figure: 'p50 ms: ours | original', value: `${fmt(p50Ours.p50ms, 1)} | ${fmt(p50Go.p50ms, 1)}`, check: `${ratio(p50Ours.p50ms, p50Go.p50ms, 1, false)}; ${check}${spread('p50ms', runs.p50Ours, runs.p50Go)}${errs(...runs.p50Ours, ...runs.p50Go)}` },
      { phase: 'api', case: '10,000-row windows, 4 clients', figure: 'req/s: ours | original', value: `${fmt(c4Ours.rps, 1)} | ${fmt(c4Go.rps, 1)}`, check: `${ratio(c4Ours.rps, c4Go.rps, 1.5, true)}; ours ${cpu(c4Ours)}, original ${cpu(c4Go)}${spread('rps', runs.c4Ours, runs.c4Go)}${errs(...runs.c4Ours, ...runs.c4Go)}` },
      { phase: 'api', case: 'GET /api/v1/machines, wrk -c32', figure: 'req/s: ours | original', value: `${fmt(mOurs.rps)} | ${fmt(mGo.rps)}`, check: `${ratio(mOurs.rps, mGo.rps, 2, true)}; ours ${cpu(mOurs)}, original ${cpu(mGo)}${errs(mOurs, mGo)}` },
      { phase: 'api', case: 'GET /machines/{id}/latest (ours), wrk -c32', figure: 'req/s vs original /machines', value: `${fmt(latest.rps)} | ${fmt(mGo.rps)}`, check: `${ratio(latest.rps, mGo.rps, 2, true)}; ${cpu(latest)}${errs(latest)}` },
      { phase: 'api', case: 'GET /fleet/latest (ours), wrk -c32', figure: 'req/s vs original /machines', value: `${fmt(fleet.rps)} | ${fmt(mGo.rps)}`, check: `${ratio(fleet.rps, mGo.rps, 2, true)}; ${cpu(fleet)}${errs(fleet)}` })
    return rows
  } finally {
    await go?.stop()
    await ours?.stop()
    await env.jsm.streams.delete(`${env.stream}_GO`).catch(() => {})
    await env.cleanup()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await runApiVsSeed()
  process.stdout.write(`\nAPI vs the original Go design (${SECONDS} s per measurement, wrk; ${new Date().toISOString()})\n\n${renderTable(rows)}\n`)
}

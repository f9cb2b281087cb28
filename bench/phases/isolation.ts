/**
 * Issue 16's isolation figure: the ingest drain while 4 clients read 10,000-row windows non-stop stays
 * ≥ 70% of the drain with no API load, and the window p99 stays bounded while ingest runs at full rate.
 *
 *   flock -x /tmp/cnc-cpu.lock npx tsx bench/phases/isolation.ts     (PERF_ISOLATION_MESSAGES=300000)
 *   PERF_ONLY=api npm run perf                                        (after bench/api-vs-seed.ts, full runs)
 *
 * One private stream, durable consumer and database, the window readings of bench/lib/wrk.ts in it:
 *
 *   setup    service up (it migrates) → 200,000 window readings → wrk warm-up 1 s
 *            → windows alone, 4 clients, PERF_ISOLATION_API_SECONDS (the API's figures without ingest) → stop
 *   drain A  N readings pre-filled (machines ISOA-*) → VACUUM ANALYZE + CHECKPOINT → service started
 *            → drained, measured as bench/phases/drain.ts measures it; no API load
 *   drain B  N more (ISOB-*, 30 days later) → VACUUM ANALYZE + CHECKPOINT → service started (resumes after
 *            A's ack floor) → wrk, 4 connections, a different window each request, from the moment the API
 *            answers (about when the first delivery comes: the deliveries before it are reported) until the
 *            drain's clock stops, then SIGINT
 *
 * Both drains run the same service config on the same database and each writes a time range of its own.
 * wrk's interval covers the drain's, give or take its first moments (reported) and ≤ one 100 ms progress
 * poll after the last ack, so its req/s and percentiles are those of reads under full-rate ingest. wrk
 * shares the 2 cores with the parties it loads: its CPU shows as "everything else" in the split.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkpoint, consumerState, createBenchEnv, envInt, sleep, type BenchEnv } from '../lib/env.js'
import { readingStream } from '../lib/payloads.js'
import { CpuSplit, type CpuUse } from '../lib/procstat.js'
import { fmtMicros, fmtMs, fmtRate, progress, renderTable, targetCheck, type Row } from '../lib/report.js'
import { startService } from '../lib/service.js'
import { insertWindowReadings, startWrk, WINDOW_BASE_S, WINDOW_MACHINE, windowsScript, wrk, type WrkResult, type WrkRun } from '../lib/wrk.js'
import { drainLine, measureDrain, type DrainResult } from './drain.js'

const MESSAGES = envInt('PERF_ISOLATION_MESSAGES', 300_000)
const API_SECONDS = envInt('PERF_ISOLATION_API_SECONDS', 6)
const CLIENTS = 4
/** Issue 16: the drain under API load ÷ the drain without. */
export const ISOLATION_TARGET = 0.7
const PHASE = 'api isolation'
/** Backlog B's readings start this much later than A's, so neither drain writes among the other's rows. */
const B_LATER_MS = 30 * 86_400_000
const START_MS = Date.UTC(2026, 0, 1)

interface Loaded {
  readonly drain: DrainResult
  readonly api: WrkResult
  /** Backlog messages the consumer had delivered when wrk had just started: at most this many drained unloaded. */
  readonly deliveredBeforeLoad: number
}

/** Polls a one-row window every 10 ms until the API answers 200 (the database is migrated and open). */
async function apiAnswers (port: number): Promise<void> {
  const from = new Date(WINDOW_BASE_S * 1000).toISOString()
  const url = `http://127.0.0.1:${port}/api/v1/machines/${WINDOW_MACHINE}/data?start_time=${from}&end_time=${from}&limit=1`
  const until = Date.now() + 60_000
  for (;;) {
    try {
      if ((await fetch(url)).status === 200) return
    } catch { /* not listening yet */ }
    if (Date.now() > until) throw new Error(`the API did not answer ${url} within 60 s`)
    await sleep(10)
  }
}

const backlogRows = (env: BenchEnv, prefix: string) => async (): Promise<number> => {
  const [row] = await env.query<{ n: string }>('SELECT count(*) AS n FROM sensor_data WHERE machine_id LIKE $1', [`${prefix}-%`])
  return Number(row?.n)
}

/**
 * Drains the backlog after `fromSeq` with a freshly started service; with `script`, wrk loads the
 * API from the moment it answers until the drain's clock stops.
 */
async function drainPhase (env: BenchEnv, prefix: string, fromSeq: number, script: string | undefined): Promise<{ drain: DrainResult, api?: WrkResult, deliveredBeforeLoad?: number }> {
  await env.query('VACUUM ANALYZE sensor_data')
  await checkpoint()
  const service = await startService(env.cnc, `isolation ${prefix}`)
  let run: WrkRun | undefined
  let api: WrkResult | undefined
  try {
    const measured = measureDrain(env, service, { fromSeq, untilSeq: fromSeq + MESSAGES }, backlogRows(env, prefix), async () => { api = await run?.finish() })
    measured.catch(() => {}) // awaited below, after the load is started
    await apiAnswers(service.port)
    let deliveredBeforeLoad: number | undefined
    if (script !== undefined) {
      // -d is only a bound: finish() ends the run when the drain's clock stops.
      run = startWrk(`http://127.0.0.1:${service.port}/`, CLIENTS, 3_600, script)
      // The API opens after the migrations, the pull consumer a little later: the two are tens of ms
      // apart, so this says (as an upper bound) how much of the backlog went before the load began.
      deliveredBeforeLoad = Math.max(0, ((await consumerState(env))?.delivered ?? 0) - fromSeq)
    }
    const drain = await measured
    return { drain, api, deliveredBeforeLoad }
  } finally {
    await run?.finish().catch(() => {})
    await service.stop()
  }
}

/** Setup: the database migrated, the window readings in, warm; then the windows alone for API_SECONDS. */
async function setup (env: BenchEnv, script: string): Promise<{ alone: WrkResult, cpu: CpuUse }> {
  const service = await startService(env.cnc, 'isolation setup')
  try {
    await apiAnswers(service.port)
    await insertWindowReadings((sql) => env.query(sql))
    const url = `http://127.0.0.1:${service.port}/`
    await wrk(url, CLIENTS, 1, script)
    const cpu = new CpuSplit(service.pid)
    cpu.start()
    const alone = await wrk(url, CLIENTS, API_SECONDS, script)
    return { alone, cpu: cpu.stop() }
  } finally {
    await service.stop()
  }
}

const cores = (c: CpuUse): string => `cores busy service ${c.cores.service.toFixed(2)} / nats-server ${c.cores.nats.toFixed(2)} / postgres ${c.cores.postgres.toFixed(2)}, everything else ${c.cores.other.toFixed(2)}`
const perMsg = (d: DrainResult): string => `CPU µs/msg ${fmtMicros(d.cpuMicros.service)} / ${fmtMicros(d.cpuMicros.nats)} / ${fmtMicros(d.cpuMicros.postgres)} (else ${fmtMicros(d.cpuMicros.other)})`
const settled = (d: DrainResult): string => `rows ${d.rowsOk ? 'exact' : 'WRONG'}${d.complete ? '' : ', NOT settled by the deadline'}`
const errs = (r: WrkResult): string => r.errors > 0 ? `; ERRORS ${r.errors}` : ''
const apiValue = (r: WrkResult): string => `${r.rps.toFixed(1)} req/s, p50 ${fmtMs(r.p50ms)} / p99 ${fmtMs(r.p99ms)}`

/** Runs the isolation measurement; returns its rows of the issue 16 table. */
export async function runIsolation (): Promise<Row[]> {
  const env = await createBenchEnv('ISO')
  const dir = mkdtempSync(join(tmpdir(), 'isolation-'))
  try {
    const script = windowsScript(dir)
    progress(`  isolation setup: window readings, windows alone ${API_SECONDS} s (${CLIENTS} clients)`)
    const { alone, cpu: aloneCpu } = await setup(env, script)
    progress(`  windows alone: ${apiValue(alone)}${errs(alone)}; ${cores(aloneCpu)}`)

    await env.prefill(readingStream(MESSAGES, 'ISOA', 100, START_MS))
    const a = (await drainPhase(env, 'ISOA', 0, undefined)).drain
    progress(drainLine('drain, no API load', a))

    await env.prefill(readingStream(MESSAGES, 'ISOB', 100, START_MS + B_LATER_MS))
    const b = await drainPhase(env, 'ISOB', MESSAGES, script)
    if (b.api === undefined) throw new Error('the drain ended before the API load started')
    const loaded: Loaded = { drain: b.drain, api: b.api, deliveredBeforeLoad: b.deliveredBeforeLoad ?? NaN }
    progress(drainLine(`drain, ${CLIENTS} clients reading windows`, loaded.drain))
    progress(`  windows during the drain: ${apiValue(loaded.api)} (${fmtRate(loaded.api.requests)} requests in ${loaded.api.seconds.toFixed(1)} s)${errs(loaded.api)}`)
    return rows(a, loaded, alone, aloneCpu)
  } finally {
    await env.cleanup()
    rmSync(dir, { recursive: true, force: true })
  }
}

function rows (a: DrainResult, b: Loaded, alone: WrkResult, aloneCpu: CpuUse): Row[] {
  const ratio = b.drain.perSec / a.perSec
  const n = fmtRate(a.messages)
  const figure = 'committed+acked msg/s, first pull → last ack'
  return [
    { phase: PHASE, case: `drain of ${n}, no API load`, figure, value: fmtRate(a.perSec), check: `${settled(a)}; ${perMsg(a)}; ${cores(a.cpu)}` },
    { phase: PHASE, case: `drain of ${n}, ${CLIENTS} clients reading 10,000-row windows`, figure, value: fmtRate(b.drain.perSec), check: `${settled(b.drain)}; ${perMsg(b.drain)}; ${cores(b.drain.cpu)}` },
    { phase: PHASE, case: 'drain with ÷ without API load', figure: 'ratio', value: `${ratio.toFixed(2)}×`, check: `${fmtRate(b.drain.perSec)} ÷ ${fmtRate(a.perSec)}; target ≥ ${ISOLATION_TARGET}×: ${targetCheck(ratio, ISOLATION_TARGET, true)}` },
    { phase: PHASE, case: `10,000-row windows, ${CLIENTS} clients, during the drain`, figure: 'req/s, p50 / p99', value: apiValue(b.api), check: `${fmtRate(b.api.requests)} requests in ${b.api.seconds.toFixed(1)} s (the drain took ${b.drain.seconds.toFixed(1)} s); delivered before the load began ≤ ${fmtRate(b.deliveredBeforeLoad)} of ${fmtRate(b.drain.messages)}; p99 ${(b.api.p99ms / alone.p99ms).toFixed(1)}× the p99 without ingest${errs(b.api)}` },
    { phase: PHASE, case: `10,000-row windows, ${CLIENTS} clients, no ingest`, figure: 'req/s, p50 / p99', value: apiValue(alone), check: `${API_SECONDS} s, same service and database; ${cores(aloneCpu)}${errs(alone)}` },
  ]
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await runIsolation()
  process.stdout.write(`\nIngest isolation under window reads (${fmtRate(MESSAGES)} messages per drain; ${new Date().toISOString()})\n\n${renderTable(r)}\n`)
}

/**
 * `make perf` / `npm run perf`: the whole benchmark suite in one command, against the built service
 * (dist/main.js as a child process, private stream/consumer/database per run).
 *
 *   1 seed scenarios  publish-only vs end-to-end msg/s of the original design's three scripts
 *   2 drain           committed msg/s of a pre-filled backlog (median of 3), peak RSS, CPU split
 *   3 seed-style      the original consumer (fetch 10, INSERT + ack per message) on the same data: ratio
 *   4 live            publish→commit latency at fixed offered rates; highest rate with p99 < 1 s
 *   5 micro           tinybench: per-message decode, pool hand-off, COPY formats and batch sizes
 *
 * PERF_QUICK=1 runs a cut-down version (well under a minute) for CI smoke; it asserts nothing about speed.
 * Output: one table on stdout, bench/results/<timestamp>.json (PERF_RESULTS_DIR to change), and in full
 * mode the generated block of bench/RESULTS.md. Exit code 1 when an integrity check failed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { connect } from '@nats-io/transport-node'
import pg from 'pg'
import { applySchema, runSeedStyle } from './seed-style-consumer.js'
import { adminQuery, dbUrl, NATS_URL, PG_ADMIN_URL, uniqueName } from './lib/env.js'
import { readingPayloads } from './lib/payloads.js'
import { fmtMs, fmtRate, median, progress, renderTable, type Row } from './lib/report.js'
import { REPO_ROOT } from './lib/service.js'
import { drainOnce, type DrainResult } from './phases/drain.js'
import { LiveRig, passes, searchSustained, type LiveResult } from './phases/live.js'
import { micro } from './phases/micro.js'
import { seedScenarios } from './phases/seed-scenarios.js'

const QUICK = process.env.PERF_QUICK === '1'
/** PERF_ONLY=drain,live (any of seed, drain, live, micro) runs a subset; the seed-style baseline rides with drain. */
const ONLY = new Set((process.env.PERF_ONLY ?? 'seed,drain,live,micro').split(','))
const SIZES = QUICK
  ? { drain: 20_000, drainRuns: 1, seedStyle: 1_000, liveRates: [1_000, 10_000], liveSeconds: 2, searchFrom: 30_000, searchCap: 30_000, searchSeconds: 2 }
  : { drain: 300_000, drainRuns: 3, seedStyle: 20_000, liveRates: [1_000, 10_000, 30_000], liveSeconds: 10, searchFrom: 45_000, searchCap: 250_000, searchSeconds: 6 }
// For profiling and tuning loops: PERF_DRAIN_MESSAGES, PERF_DRAIN_RUNS, PERF_SEED_STYLE_MESSAGES.
const envInt = (name: string, dflt: number): number => (process.env[name] !== undefined ? Number(process.env[name]) : dflt)
SIZES.drain = envInt('PERF_DRAIN_MESSAGES', SIZES.drain)
SIZES.drainRuns = envInt('PERF_DRAIN_RUNS', SIZES.drainRuns)
SIZES.seedStyle = envInt('PERF_SEED_STYLE_MESSAGES', SIZES.seedStyle)

async function machine (): Promise<Record<string, string | number>> {
  const nc = await connect({ servers: NATS_URL })
  const nats = nc.info?.version ?? '?'
  await nc.close()
  const c = new pg.Client({ connectionString: PG_ADMIN_URL })
  await c.connect()
  const pgv = (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? '?'
  await c.end()
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? '?'
  return { cpu: model, cores: cpus().length, node: process.version, natsServer: nats, postgres: pgv }
}

const pct = (value: number, target: number, higherIsBetter: boolean): string => {
  const met = higherIsBetter ? value >= target : value <= target
  const by = higherIsBetter ? (1 - value / target) * 100 : (value / target - 1) * 100
  return met ? 'met' : `MISSED by ${by.toFixed(0)}%`
}

async function main (): Promise<void> {
  const started = Date.now()
  const rows: Row[] = []
  const out: Record<string, unknown> = { quick: QUICK, startedAt: new Date(started).toISOString(), sizes: SIZES }
  out.machine = await machine()
  progress(`machine: ${JSON.stringify(out.machine)}${QUICK ? ' (PERF_QUICK=1: cut-down sizes)' : ''}`)

  if (ONLY.has('seed')) await phaseSeed(rows, out)
  if (ONLY.has('drain')) await phaseDrain(rows, out)
  if (ONLY.has('live')) await phaseLive(rows, out)
  if (ONLY.has('micro')) await phaseMicro(rows, out)

  out.rows = rows
  out.seconds = (Date.now() - started) / 1000
  const table = renderTable(rows)
  process.stdout.write(`\ncnc-monitor benchmark${QUICK ? ' (PERF_QUICK=1)' : ''}: ${JSON.stringify(out.machine)}\n\n${table}\n\n`)
  const dir = process.env.PERF_RESULTS_DIR ?? `${REPO_ROOT}bench/results`
  mkdirSync(dir, { recursive: true })
  const file = `${dir}/${new Date(started).toISOString().replace(/[:.]/g, '-')}${QUICK ? '-quick' : ''}.json`
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n')
  progress(`written ${file} (${out.seconds} s in all)`)
  if (!QUICK && process.env.PERF_RESULTS_DIR === undefined) updateResultsMd(out.machine as Record<string, string | number>, table, file)
}

async function phaseSeed (rows: Row[], out: Record<string, unknown>): Promise<void> {
  progress('phase 1/5 seed scenarios: publish_test_data, stress (≈2 s of pacing), performance')
  const seed = await seedScenarios()
  rows.push(...seed.rows)
  out.seed = seed.json
}

async function phaseDrain (rows: Row[], out: Record<string, unknown>): Promise<void> {
  progress(`phase 2/5 drain: ${fmtRate(SIZES.drain)} messages pre-filled, ${SIZES.drainRuns} run(s)`)
  const payloads = readingPayloads(SIZES.drain, 'DRAIN')
  const drains: DrainResult[] = []
  let seedStyle: { messages: number, seconds: number, perSec: number } | undefined
  for (let i = 0; i < SIZES.drainRuns; i++) {
    const last = i === SIZES.drainRuns - 1
    const { result, env } = await drainOnce(payloads, {}, last)
    drains.push(result)
    progress(`  drain run ${i + 1}: ${fmtRate(result.perSec)} msg/s committed+acked, peak RSS ${result.peakRssMb.toFixed(0)} MB, rows ${result.rowsOk ? 'exact' : 'WRONG'}, other load ${result.cpu.other.toFixed(2)} cores; ${result.batches} batches of ${result.meanBatch.toFixed(0)}, BEGIN→COMMIT ${result.meanCommitMs.toFixed(0)} ms mean`)
    if (env === undefined) continue
    // Phase 3 runs on the same stream, still holding the backlog, through its own consumer and database.
    progress(`phase 3/5 seed-style baseline: ${fmtRate(SIZES.seedStyle)} of the same messages, fetch 10, INSERT + ack each`)
    const database = uniqueName('cnc_perf_seedstyle').toLowerCase()
    try {
      await adminQuery(`CREATE DATABASE "${database}"`)
      await applySchema(dbUrl(database))
      seedStyle = await runSeedStyle({ natsUrl: NATS_URL, stream: env.stream, consumer: 'SEED_STYLE', databaseUrl: dbUrl(database), count: SIZES.seedStyle })
      progress(`  seed-style: ${fmtRate(seedStyle.perSec)} msg/s`)
    } finally {
      await adminQuery(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
      await env.cleanup()
    }
  }
  const perSec = drains.map((d) => d.perSec)
  const med = median(perSec)
  const medRun = drains.find((d) => d.perSec === med) ?? drains[0] as DrainResult
  const peak = Math.max(...drains.map((d) => d.peakRssMb))
  const rowsOk = drains.every((d) => d.rowsOk)
  if (!rowsOk) process.exitCode = 1
  const runs = perSec.map((p) => fmtRate(p)).join(', ')
  rows.push(
    { phase: '2 drain', case: `${fmtRate(SIZES.drain)} pre-filled`, figure: `committed+acked msg/s, first pull → last ack (median of ${drains.length})`, value: fmtRate(med), check: `runs ${runs}; rows ${rowsOk ? 'exact' : 'WRONG'}; target ≥ 100,000: ${pct(med, 100_000, true)}` },
    { phase: '2 drain', case: 'service process', figure: 'peak RSS (VmHWM, main + workers)', value: `${peak.toFixed(0)} MB`, check: `target ≤ 200 MB: ${pct(peak, 200, false)}` },
    { phase: '2 drain', case: 'CPU split (median run)', figure: 'cores busy: service / nats-server / postgres', value: `${medRun.cpu.service.toFixed(2)} / ${medRun.cpu.nats.toFixed(2)} / ${medRun.cpu.postgres.toFixed(2)}`, check: `sum ${(medRun.cpu.service + medRun.cpu.nats + medRun.cpu.postgres).toFixed(2)} of ${cpus().length} cores; everything else on the machine ${medRun.cpu.other.toFixed(2)}` }
  )
  out.drain = drains
  const ss = seedStyle as { messages: number, perSec: number, seconds: number }
  const ratio = med / ss.perSec
  rows.push(
    { phase: '3 seed-style', case: `${fmtRate(ss.messages)} of the drain's messages`, figure: 'committed+acked msg/s (fetch 10, INSERT + ack each)', value: fmtRate(ss.perSec), check: 'the original consumer, same machine, same run' },
    { phase: '3 seed-style', case: 'ours / seed-style', figure: 'ratio (drain median ÷ seed-style)', value: `${ratio.toFixed(1)}×`, check: `target ≥ 30×: ${pct(ratio, 30, true)}` }
  )
  out.seedStyle = { ...ss, ratio }
}

async function phaseLive (rows: Row[], out: Record<string, unknown>): Promise<void> {
  progress(`phase 4/5 live latency: ${SIZES.liveRates.map(fmtRate).join(', ')} msg/s for ${SIZES.liveSeconds} s each, then the search for p99 < 1 s`)
  const rig = await LiveRig.start()
  const live: LiveResult[] = []
  const liveRow = (r: LiveResult, c: string, check: string): Row => ({
    phase: '4 live', case: c, figure: 'publish→commit+ack p50 / p99 / max', value: `${fmtMs(r.p50)} / ${fmtMs(r.p99)} / ${fmtMs(r.max)}`, check,
  })
  let best: LiveResult | undefined
  try {
    for (const rate of SIZES.liveRates) {
      const r = await rig.step(rate, SIZES.liveSeconds)
      live.push(r)
      progress(`  ${fmtRate(rate)} msg/s offered (${fmtRate(r.achieved)} achieved): p50 ${fmtMs(r.p50)} p99 ${fmtMs(r.p99)} max ${fmtMs(r.max)}`)
      rows.push(liveRow(r, `${fmtRate(rate)} msg/s offered`, `${fmtRate(r.acked)}/${fmtRate(r.messages)} acked${rate === 10_000 ? `; target p99 ≤ 100 ms: ${pct(r.p99, 100, false)}` : ''}`))
    }
    best = await searchSustained(rig, live, SIZES.searchFrom, SIZES.searchSeconds, SIZES.searchCap, (r) => {
      live.push(r)
      progress(`  search ${fmtRate(r.offered)} msg/s offered (${fmtRate(r.achieved)} achieved): p99 ${fmtMs(r.p99)}${passes(r) ? '' : ' ✗'}`)
    })
  } finally {
    await rig.close()
  }
  const maxTried = Math.max(...live.map((r) => r.offered))
  rows.push(best === undefined
    ? { phase: '4 live', case: 'sustained (p99 < 1 s)', figure: 'highest offered msg/s with p99 < 1 s', value: `< ${fmtRate(Math.min(...live.map((r) => r.offered)))}`, check: 'no step passed' }
    : { ...liveRow(best, 'sustained (p99 < 1 s)', `highest passing rate ${fmtRate(best.offered)} msg/s (searched to ${fmtRate(maxTried)}${best.offered === SIZES.searchCap ? ', the cap' : ''})`), figure: `${fmtRate(best.offered)} msg/s: p50 / p99 / max` })
  out.live = { steps: live, sustained: best ?? null, latencyMeasure: 'ack seen on $JS.ACK − publish time carried in the reading timestamp (µs)' }
}

async function phaseMicro (rows: Row[], out: Record<string, unknown>): Promise<void> {
  progress('phase 5/5 micro (tinybench)')
  const m = await micro(QUICK)
  rows.push(...m.rows)
  out.micro = m.json
}

/** Replaces only the generated block of bench/RESULTS.md; the hand-written sections stay as they are. */
function updateResultsMd (mach: Record<string, string | number>, table: string, file: string): void {
  const path = `${REPO_ROOT}bench/RESULTS.md`
  const begin = '<!-- perf:latest:begin -->'
  const end = '<!-- perf:latest:end -->'
  let text: string
  try { text = readFileSync(path, 'utf8') } catch { text = '# Benchmark results\n' }
  const block = `${begin}\n## Latest \`make perf\` run (generated)\n\n${new Date().toISOString()} on ${mach.cpu}, ${mach.cores} cores, Node ${mach.node}, nats-server ${mach.natsServer}, PostgreSQL ${mach.postgres}. Raw figures: \`${file.slice(file.indexOf('bench/'))}\`.\n\n${table}\n${end}`
  const a = text.indexOf(begin)
  const b = text.indexOf(end)
  text = a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + end.length) : text.trimEnd() + '\n\n' + block + '\n'
  writeFileSync(path, text)
  progress('bench/RESULTS.md: generated block updated')
}

await main()

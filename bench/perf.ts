/**
 * `make perf` / `npm run perf`: the whole benchmark suite in one command, against the built service
 * (dist/main.js as a child process, private stream/consumer/database per run).
 *
 *   1 seed       publish-only vs end-to-end msg/s of the original design's three scripts
 *   2 baselines  the yardsticks, same sitting, right before our drain: run.sh crude 300000, run.sh seed-go N
 *   3 drain      committed msg/s of a pre-filled backlog (median of 3), ours ÷ crude, ours ÷ seed-go,
 *                peak RSS, CPU µs per message for service / nats-server / postgres
 *   4 batched    readings/s of a backlog of 100-reading array payloads, ÷ crude msg/s
 *   5 live       publish→commit latency: p99 at 10k msg/s on a settled database and right after a drain,
 *                other fixed rates, highest rate with p99 < 1 s
 *   6 micro      tinybench: per-message decode, pool hand-off, COPY formats and batch sizes
 *   7 api        issue 16 (full runs only): the query API beside the original Go server (bench/api-vs-seed.ts),
 *                then the drain with and without 4 clients reading windows (bench/phases/isolation.ts)
 *
 * PERF_ONLY=<names> (any of seed, baselines, drain, batched, live, micro, api; all by default) runs a subset.
 * PERF_QUICK=1 runs a cut-down version (well under a minute, baselines skipped) for CI smoke; it asserts
 * nothing about speed. Output: one table on stdout, bench/results/<timestamp>.json (PERF_RESULTS_DIR to
 * change), and in full mode the generated block of bench/RESULTS.md. Exit code 1 when an integrity check
 * of the drain or the seed scenarios failed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { connect } from '@nats-io/transport-node'
import pg from 'pg'
import { envInt, NATS_URL, PG_ADMIN_URL } from './lib/env.js'
import { readingPayloads, readingStream } from './lib/payloads.js'
import { fmtMs, fmtRate, progress, renderTable, targetCheck, type Row } from './lib/report.js'
import { REPO_ROOT } from './lib/service.js'
import { baselineRows, runBaselines, type Baselines } from './phases/baselines.js'
import { batchedDrain, batchedRows, READINGS_PER_MESSAGE } from './phases/batched.js'
import { drainLine, drainOnce, drainRows, DRAIN_DEADLINE_MS, type DrainResult } from './phases/drain.js'
import { LiveRig, passes, searchSustained, type LiveResult } from './phases/live.js'
import { micro } from './phases/micro.js'
import { runApiVsSeed } from './api-vs-seed.js'
import { runIsolation } from './phases/isolation.js'
import { seedScenarios } from './phases/seed-scenarios.js'

const QUICK = process.env.PERF_QUICK === '1'
const PHASES = ['seed', 'baselines', 'drain', 'batched', 'live', 'micro', 'api'] as const
const ONLY = new Set((process.env.PERF_ONLY ?? PHASES.join(',')).split(',').map((p) => p.trim()))
for (const p of ONLY) if (!(PHASES as readonly string[]).includes(p)) progress(`PERF_ONLY: unknown phase "${p}" ignored (phases: ${PHASES.join(', ')})`)
const SIZES = QUICK
  ? { drain: 20_000, drainRuns: 1, crude: 300_000, seedGo: 20_000, batched: 100, batchedDeadlineMs: 30_000, warmRate: 1_000, otherRates: [] as number[], liveSeconds: 1, settleMs: 1_000, searchFrom: 30_000, searchCap: 30_000, searchSeconds: 1 }
  : { drain: 300_000, drainRuns: 3, crude: 300_000, seedGo: 20_000, batched: 6_000, batchedDeadlineMs: 300_000, warmRate: 1_000, otherRates: [30_000], liveSeconds: 10, settleMs: 5_000, searchFrom: 45_000, searchCap: 250_000, searchSeconds: 6 }
/** The live phase's p99 targets at this rate (issue 11): settled database, and right after a drain. */
const LIVE = { rate: 10_000, settledP99Ms: 50, afterDrainP99Ms: 100 } as const
// For profiling and tuning loops. The live phase's backlog is PERF_DRAIN_MESSAGES too.
SIZES.drain = envInt('PERF_DRAIN_MESSAGES', SIZES.drain)
SIZES.drainRuns = envInt('PERF_DRAIN_RUNS', SIZES.drainRuns)
SIZES.crude = envInt('PERF_CRUDE_MESSAGES', SIZES.crude)
SIZES.seedGo = envInt('PERF_SEED_GO_MESSAGES', SIZES.seedGo)
SIZES.batched = envInt('PERF_BATCHED_MESSAGES', SIZES.batched)

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

async function main (): Promise<void> {
  const started = Date.now()
  const rows: Row[] = []
  const out: Record<string, unknown> = { quick: QUICK, startedAt: new Date(started).toISOString(), sizes: SIZES, phases: [...ONLY] }
  out.machine = await machine()
  progress(`machine: ${JSON.stringify(out.machine)}${QUICK ? ' (PERF_QUICK=1: cut-down sizes, baselines skipped)' : ''}`)

  let baselines: Baselines | undefined
  if (ONLY.has('seed')) await phaseSeed(rows, out)
  // The yardsticks run right before our drain, one at a time, with nothing else running.
  if (ONLY.has('baselines')) baselines = await phaseBaselines(rows, out)
  if (ONLY.has('drain')) await phaseDrain(rows, out, baselines)
  if (ONLY.has('batched')) await phaseBatched(rows, out, baselines)
  if (ONLY.has('live')) await phaseLive(rows, out)
  if (ONLY.has('micro')) await phaseMicro(rows, out)
  // Issue 16's table beside the original Go server (wrk, the seed-go binary): full runs only.
  if (ONLY.has('api') && !QUICK) {
    progress('phase 7/7 api: the query API beside the original Go design (bench/api-vs-seed.ts)')
    const api = await runApiVsSeed()
    rows.push(...api)
    out.api = api
    progress('  isolation: the drain with and without 4 clients reading 10,000-row windows (bench/phases/isolation.ts)')
    const isolation = await runIsolation()
    rows.push(...isolation)
    out.isolation = isolation
  }

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
  progress('phase 1/6 seed scenarios: publish_test_data, stress (≈2 s of pacing), performance')
  const seed = await seedScenarios()
  rows.push(...seed.rows)
  out.seed = seed.json
}

async function phaseBaselines (rows: Row[], out: Record<string, unknown>): Promise<Baselines> {
  progress(QUICK ? 'phase 2/6 baselines: skipped (PERF_QUICK=1)' : `phase 2/6 baselines: run.sh crude ${SIZES.crude}, run.sh seed-go ${SIZES.seedGo} (CHECKPOINT before each)`)
  const b = await runBaselines({ crude: SIZES.crude, 'seed-go': SIZES.seedGo }, QUICK ? 'skipped (PERF_QUICK=1)' : undefined)
  rows.push(...baselineRows(b))
  out.baselines = b
  return b
}

async function phaseDrain (rows: Row[], out: Record<string, unknown>, baselines: Baselines | undefined): Promise<void> {
  progress(`phase 3/6 drain: ${fmtRate(SIZES.drain)} messages pre-filled, ${SIZES.drainRuns} run(s), CHECKPOINT before each`)
  const payloads = readingPayloads(SIZES.drain, 'DRAIN')
  const drains: DrainResult[] = []
  for (let i = 0; i < SIZES.drainRuns; i++) {
    const result = await drainOnce(payloads)
    drains.push(result)
    progress(drainLine(i + 1, result))
  }
  if (!drains.every((d) => d.rowsOk && d.complete)) process.exitCode = 1
  rows.push(...drainRows(drains, baselines))
  out.drain = drains
}

async function phaseBatched (rows: Row[], out: Record<string, unknown>, baselines: Baselines | undefined): Promise<void> {
  progress(`phase 4/6 batched: ${fmtRate(SIZES.batched)} messages × ${READINGS_PER_MESSAGE} readings pre-filled, deadline ${SIZES.batchedDeadlineMs / 1000} s`)
  const r = await batchedDrain(SIZES.batched, SIZES.batchedDeadlineMs)
  progress(`  ${fmtRate(r.readingsPerSec)} readings/s committed (${fmtRate(r.rows)} of ${fmtRate(r.readingsExpected)} rows, dead letters ${JSON.stringify(r.deadLetters)}), ${r.complete ? 'settled' : 'NOT settled by the deadline'} in ${r.seconds.toFixed(1)} s`)
  const crude = baselines?.crude
  rows.push(...batchedRows(r, crude?.type === 'measured' ? crude.perSec : undefined))
  out.batched = r
}

async function phaseLive (rows: Row[], out: Record<string, unknown>): Promise<void> {
  progress(`phase 5/6 live latency: ${fmtRate(SIZES.warmRate)} msg/s, then ${fmtRate(LIVE.rate)} on a settled database (CHECKPOINT + ${SIZES.settleMs / 1000} s) and right after a ${fmtRate(SIZES.drain)}-message drain, ${SIZES.liveSeconds} s each; then the search for p99 < 1 s`)
  const rig = await LiveRig.start()
  const live: LiveResult[] = []
  const liveRow = (r: LiveResult, c: string, check: string): Row => ({
    phase: '5 live', case: c, figure: 'publish→commit+ack p50 / p99 / max', value: `${fmtMs(r.p50)} / ${fmtMs(r.p99)} / ${fmtMs(r.max)}`, check,
  })
  const step = async (rate: number, label: string, check: (r: LiveResult) => string): Promise<LiveResult> => {
    const r = await rig.step(rate, SIZES.liveSeconds)
    live.push(r)
    progress(`  ${label}: ${fmtRate(rate)} msg/s offered (${fmtRate(r.achieved)} achieved): p50 ${fmtMs(r.p50)} p99 ${fmtMs(r.p99)} max ${fmtMs(r.max)}`)
    rows.push(liveRow(r, label, `${fmtRate(r.acked)}/${fmtRate(r.messages)} acked${check(r)}`))
    return r
  }
  let best: LiveResult | undefined
  const marked: Record<string, unknown> = {}
  try {
    await step(SIZES.warmRate, `${fmtRate(SIZES.warmRate)} msg/s offered (first step)`, () => '')
    await rig.settle(SIZES.settleMs)
    marked.settled = await step(LIVE.rate, `${fmtRate(LIVE.rate)} msg/s, settled database`, (r) => `; CHECKPOINT + ${SIZES.settleMs / 1000} s pause first; target p99 ≤ ${LIVE.settledP99Ms} ms: ${targetCheck(r.p99, LIVE.settledP99Ms, false)}`)
    const backlog = await rig.backlog(readingStream(SIZES.drain, 'LIVEDRAIN'), DRAIN_DEADLINE_MS)
    // The service is live, so it drains while the backlog is still being published: a settle time, not a drain rate.
    const drained = `right after a backlog of ${fmtRate(backlog.messages)} (published at full speed, ${backlog.timedOut ? 'NOT settled' : 'settled'} in ${backlog.seconds.toFixed(1)} s)`
    progress(`  backlog: ${drained}`)
    marked.afterDrain = await step(LIVE.rate, `${fmtRate(LIVE.rate)} msg/s, right after a drain`, (r) => `; ${drained}; target p99 ≤ ${LIVE.afterDrainP99Ms} ms: ${targetCheck(r.p99, LIVE.afterDrainP99Ms, false)}`)
    marked.backlog = { messages: backlog.messages, seconds: backlog.seconds, timedOut: backlog.timedOut, endedBy: backlog.endedBy }
    for (const rate of SIZES.otherRates) await step(rate, `${fmtRate(rate)} msg/s offered`, () => '')
    best = await searchSustained(rig, live, SIZES.searchFrom, SIZES.searchSeconds, SIZES.searchCap, (r) => {
      live.push(r)
      progress(`  search ${fmtRate(r.offered)} msg/s offered (${fmtRate(r.achieved)} achieved): p99 ${fmtMs(r.p99)}${passes(r) ? '' : ' ✗'}`)
    })
  } finally {
    await rig.close()
  }
  const maxTried = Math.max(...live.map((r) => r.offered))
  rows.push(best === undefined
    ? { phase: '5 live', case: 'sustained (p99 < 1 s)', figure: 'highest offered msg/s with p99 < 1 s', value: `< ${fmtRate(Math.min(...live.map((r) => r.offered)))}`, check: 'no step passed' }
    : { ...liveRow(best, 'sustained (p99 < 1 s)', `highest passing rate ${fmtRate(best.offered)} msg/s (searched to ${fmtRate(maxTried)}${best.offered === SIZES.searchCap ? ', the cap' : ''})`), figure: `${fmtRate(best.offered)} msg/s: p50 / p99 / max` })
  out.live = { steps: live, ...marked, sustained: best ?? null, latencyMeasure: 'ack seen on $JS.ACK − publish time carried in the reading timestamp (µs)' }
}

async function phaseMicro (rows: Row[], out: Record<string, unknown>): Promise<void> {
  progress('phase 6/6 micro (tinybench)')
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

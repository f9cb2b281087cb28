/**
 * Phase 3: drain a backlog. N readings are pre-filled into a fresh stream (untimed, core publish),
 * PostgreSQL is checkpointed, then the service starts; the clock runs from the first delivery to the last
 * ack (bench/lib/drain-watch.ts: progress polled every 100 ms, the end taken from nats-server's ack-floor
 * time). Peak RSS is the service's VmHWM (main thread and parser workers are one process); the CPU split
 * is /proc time over the same interval, also given in µs per message.
 */
import { checkpoint, createBenchEnv, type BenchEnv } from '../lib/env.js'
import { watchDrain, type DrainWatch } from '../lib/drain-watch.js'
import { memoryMb, microsPer, type CpuShares, type CpuUse } from '../lib/procstat.js'
import { fmtMicros, fmtRate, median, targetCheck, type Row } from '../lib/report.js'
import { startService, type RunningService } from '../lib/service.js'
import type { BaselineName, Baselines } from './baselines.js'

export interface DrainResult {
  readonly messages: number
  readonly seconds: number
  readonly perSec: number
  readonly peakRssMb: number
  readonly cpu: CpuUse
  /** CPU µs per message: service / nats-server / postgres / everything else. */
  readonly cpuMicros: CpuShares
  readonly rowsOk: boolean
  /** False when the drain did not settle before its deadline (the figures cover what settled). */
  readonly complete: boolean
  readonly endedBy: DrainWatch['endedBy']
  /** From the service's /metrics: batches committed, mean messages per batch, mean BEGIN→COMMIT ms. */
  readonly batches: number
  readonly meanBatch: number
  readonly meanCommitMs: number
}

export const DRAIN_DEADLINE_MS = 600_000

/** Batches, mean batch size and mean BEGIN→COMMIT from the service's own histograms. */
export async function batchFigures (service: RunningService): Promise<{ batches: number, meanBatch: number, meanCommitMs: number }> {
  const batches = await service.metric('cnc_commit_duration_seconds_count')
  const commitSum = await service.metric('cnc_commit_duration_seconds_sum')
  const batchSum = await service.metric('cnc_batch_size_sum')
  return { batches, meanBatch: batchSum / batches, meanCommitMs: 1000 * commitSum / batches }
}

/** One drain of `payloads` (one reading each) in a private stream, consumer and database. */
export async function drainOnce (payloads: readonly Uint8Array[], overrides: Record<string, string> = {}): Promise<DrainResult> {
  const env = await createBenchEnv('DRAIN')
  try {
    await env.prefill(payloads)
    const n = payloads.length
    await checkpoint()
    const service = await startService({ ...env.cnc, ...overrides }, 'drain')
    try {
      return await measureDrain(env, service, { untilSeq: n }, async () => {
        const [row] = await env.query<{ n: string }>('SELECT count(*) AS n FROM sensor_data')
        return Number(row?.n)
      })
    } finally {
      await service.stop()
    }
  } finally {
    await env.cleanup()
  }
}

/**
 * The drain of stream sequences `fromSeq` < seq ≤ `untilSeq` by a service just started on them (the
 * clock as watchDrain keeps it), then its memory, rows and batch figures. `rows` counts the backlog's
 * rows in the database once the drain settled; `clockStopped` runs the moment the clock stops, before
 * anything else is read (bench/phases/isolation.ts ends its API load there).
 */
export async function measureDrain (env: BenchEnv, service: RunningService, range: { fromSeq?: number, untilSeq: number }, rows: () => Promise<number>, clockStopped?: () => Promise<void>): Promise<DrainResult> {
  const n = range.untilSeq - (range.fromSeq ?? 0)
  const w = await watchDrain(env, service.pid, range, DRAIN_DEADLINE_MS)
  await clockStopped?.()
  const mem = memoryMb(service.pid)
  const counted = await rows()
  const done = w.timedOut ? counted : n
  return {
    messages: n,
    seconds: w.seconds,
    perSec: done / w.seconds,
    peakRssMb: mem.peak,
    cpu: w.cpu,
    cpuMicros: microsPer(w.cpu, done),
    rowsOk: counted === n,
    complete: !w.timedOut,
    endedBy: w.endedBy,
    ...await batchFigures(service),
  }
}

/** Issue 11's targets for the drain, all measured in the same run. */
export const DRAIN_TARGETS = { overCrude: 1.5, overSeedGo: 40, peakRssMb: 128 } as const

const fmtCpu = (c: CpuShares): string => `${fmtMicros(c.service)} / ${fmtMicros(c.nats)} / ${fmtMicros(c.postgres)}`

/** One progress line per run (`run`: its number, or what the run was): rate, memory, CPU per message, batches. */
export function drainLine (run: number | string, r: DrainResult): string {
  return `  ${typeof run === 'number' ? `drain run ${run}` : run}: ${fmtRate(r.perSec)} msg/s committed+acked${r.complete ? '' : ' (NOT settled by the deadline)'}, peak RSS ${r.peakRssMb.toFixed(0)} MB, rows ${r.rowsOk ? 'exact' : 'WRONG'}; CPU µs/msg service / nats-server / postgres ${fmtCpu(r.cpuMicros)} (everything else ${fmtMicros(r.cpuMicros.other)}); ${r.batches} batches of ${r.meanBatch.toFixed(0)}, BEGIN→COMMIT ${r.meanCommitMs.toFixed(0)} ms mean`
}

/** The table rows of the drain: median, both ratios (or why not), peak RSS, CPU per message. */
export function drainRows (drains: readonly DrainResult[], baselines: Baselines | undefined): Row[] {
  const perSec = drains.map((d) => d.perSec)
  const med = median(perSec)
  const medRun = drains.find((d) => d.perSec === med) ?? drains[0] as DrainResult
  const peak = Math.max(...drains.map((d) => d.peakRssMb))
  const rowsOk = drains.every((d) => d.rowsOk && d.complete)
  const messages = drains[0]?.messages ?? 0
  const ratioRow = (name: BaselineName, target: number): Row => {
    const b = baselines?.[name]
    const c = `ours ÷ ${name}`
    const figure = `ratio (drain median ÷ run.sh ${name} msg/s)`
    if (b === undefined) return { phase: '3 drain', case: c, figure, value: '—', check: 'not available: baselines phase not run (PERF_ONLY)' }
    if (b.type === 'not-available') return { phase: '3 drain', case: c, figure, value: '—', check: `not available: ${b.reason}` }
    const ratio = med / b.perSec
    return { phase: '3 drain', case: c, figure, value: `${ratio.toFixed(2)}×`, check: `${fmtRate(med)} ÷ ${fmtRate(b.perSec)}; target ≥ ${target}×: ${targetCheck(ratio, target, true)}` }
  }
  const crude = baselines?.crude
  const crudeCpu = crude?.type === 'measured' && crude.cpuMicros !== undefined ? `; crude loop ${fmtMicros(crude.cpuMicros.node)} / ${fmtMicros(crude.cpuMicros.nats)} / ${fmtMicros(crude.cpuMicros.postgres)}` : ''
  const total = (c: CpuShares): number => c.service + c.nats + c.postgres
  return [
    { phase: '3 drain', case: `${fmtRate(messages)} pre-filled`, figure: `committed+acked msg/s, first pull → last ack (median of ${drains.length})`, value: fmtRate(med), check: `runs ${drains.map((d) => `${fmtRate(d.perSec)} (${fmtMicros(total(d.cpuMicros))} µs/msg)`).join(', ')}; rows ${rowsOk ? 'exact' : 'WRONG'}` },
    ratioRow('crude', DRAIN_TARGETS.overCrude),
    ratioRow('seed-go', DRAIN_TARGETS.overSeedGo),
    { phase: '3 drain', case: 'service process', figure: 'peak RSS (VmHWM, main + workers)', value: `${peak.toFixed(0)} MB`, check: `target ≤ ${DRAIN_TARGETS.peakRssMb} MB: ${targetCheck(peak, DRAIN_TARGETS.peakRssMb, false)}` },
    { phase: '3 drain', case: 'CPU per message (median run)', figure: 'CPU µs/msg: service / nats-server / postgres', value: fmtCpu(medRun.cpuMicros), check: `sum ${fmtMicros(total(medRun.cpuMicros))} µs${crudeCpu}; cores busy ${medRun.cpu.cores.service.toFixed(2)} / ${medRun.cpu.cores.nats.toFixed(2)} / ${medRun.cpu.cores.postgres.toFixed(2)}, everything else ${medRun.cpu.cores.other.toFixed(2)}` },
  ]
}

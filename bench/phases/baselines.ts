/**
 * Phase 2: the two yardsticks our drain is reported against, measured on this machine in the same sitting,
 * right before our drain and never beside anything else (`run.sh` prefills, drains and cleans up itself):
 *   crude     `run.sh crude 300000`  one Node thread: consume(5000) → JSON.parse + ajv → binary COPY →
 *                                    COMMIT → one ack per message
 *   seed-go   `run.sh seed-go N`     the original Go design: Fetch(10), one INSERT and one ack per message
 * Each prints one JSON line with `msgs_per_s` (the crude loop adds the cores each party used).
 * Where they live: PERF_BASELINES_DIR, else <repo>/../shared/baselines, else /work/shared/baselines. When none
 * holds a run.sh, or a run fails, the result says why and the ratios say "not available": a missing
 * yardstick never fails the benchmark.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { checkpoint, NATS_URL } from '../lib/env.js'
import { fmtMicros, fmtRate, progress, type Row } from '../lib/report.js'
import { REPO_ROOT } from '../lib/service.js'

export const BASELINES = ['crude', 'seed-go'] as const
export type BaselineName = typeof BASELINES[number]

export type BaselineResult =
  | { readonly type: 'measured', readonly name: BaselineName, readonly messages: number, readonly perSec: number, readonly cpuMicros?: { node: number, nats: number, postgres: number }, readonly raw: unknown }
  | { readonly type: 'not-available', readonly name: BaselineName, readonly reason: string }

export type Baselines = Readonly<Record<BaselineName, BaselineResult>>

/** One run (the first one also builds, in $BASELINE_WORK) may take this long before it is given up. */
const RUN_TIMEOUT_MS = 20 * 60_000

/** The folder holding run.sh, or why there is none. */
export function baselinesDir (): { dir: string } | { missing: string } {
  const given = process.env.PERF_BASELINES_DIR
  const candidates = given !== undefined && given !== '' ? [given] : [resolve(REPO_ROOT, '../shared/baselines'), '/work/shared/baselines']
  for (const dir of candidates) if (existsSync(`${dir}/run.sh`)) return { dir }
  return { missing: `no run.sh in ${candidates.join(' or ')}` }
}

const notAvailable = (name: BaselineName, reason: string): BaselineResult => ({ type: 'not-available', name, reason })

/** Runs `run.sh <name> <messages>` and reads its last JSON line. */
async function runOne (dir: string, name: BaselineName, messages: number): Promise<BaselineResult> {
  await checkpoint()
  // run.sh takes NATS_URL as host:port (it adds the scheme itself where it needs one).
  const env = { ...process.env, NATS_URL: new URL(NATS_URL).host }
  const child = spawn('bash', [`${dir}/run.sh`, name, String(messages)], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2_000) })
  // run.sh leads its own process group (detached), so its node/Go children stop with it: on the timeout,
  // and when the bench itself is interrupted meanwhile.
  const stopGroup = (): void => { try { if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM') } catch { /* already gone */ } }
  const onSignal = (): void => { stopGroup(); process.exit(130) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const timer = setTimeout(stopGroup, RUN_TIMEOUT_MS)
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(-1))
    child.once('exit', (c) => resolve(c))
  })
  clearTimeout(timer)
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'))
  let parsed: Record<string, unknown> | undefined
  try { parsed = line === undefined ? undefined : JSON.parse(line) as Record<string, unknown> } catch { parsed = undefined }
  const perSec = Number(parsed?.msgs_per_s)
  if (code !== 0 || parsed === undefined || !(perSec > 0)) {
    const last = stderr.trim().split('\n').pop() ?? ''
    return notAvailable(name, `run.sh ${name} exited ${code}${parsed === undefined ? ' without a JSON line' : ''}${last === '' ? '' : `: ${last.slice(0, 160)}`}`)
  }
  const cores = parsed.cores as { node?: number, nats?: number, postgres?: number } | undefined
  const micros = (c: number | undefined): number => (Number(c) * 1e6) / perSec
  return {
    type: 'measured',
    name,
    messages: Number(parsed.messages ?? messages),
    perSec,
    ...(cores === undefined ? {} : { cpuMicros: { node: micros(cores.node), nats: micros(cores.nats), postgres: micros(cores.postgres) } }),
    raw: parsed,
  }
}

/** Both yardsticks, one after the other; `skip` (PERF_QUICK) reports them as not available without running. */
export async function runBaselines (sizes: Readonly<Record<BaselineName, number>>, skip?: string): Promise<Baselines> {
  if (skip !== undefined) return { crude: notAvailable('crude', skip), 'seed-go': notAvailable('seed-go', skip) }
  const where = baselinesDir()
  if ('missing' in where) {
    progress(`  baselines not available: ${where.missing}`)
    return { crude: notAvailable('crude', where.missing), 'seed-go': notAvailable('seed-go', where.missing) }
  }
  const out: Partial<Record<BaselineName, BaselineResult>> = {}
  for (const name of BASELINES) {
    progress(`  run.sh ${name} ${sizes[name]} (${where.dir})`)
    const r = await runOne(where.dir, name, sizes[name])
    progress(r.type === 'measured' ? `  ${name}: ${fmtRate(r.perSec)} msg/s` : `  ${name}: not available (${r.reason})`)
    out[name] = r
  }
  return out as Baselines
}

const WHAT: Record<BaselineName, string> = {
  crude: 'crude loop: consume(5000), parse + ajv, binary COPY, ack each',
  'seed-go': 'original Go design: Fetch(10), INSERT + ack each',
}

export function baselineRows (b: Baselines): Row[] {
  return BASELINES.map((name) => {
    const r = b[name]
    if (r.type === 'not-available') return { phase: '2 baselines', case: WHAT[name], figure: `committed+acked msg/s (run.sh ${name})`, value: '—', check: `not available: ${r.reason}` }
    const cpu = r.cpuMicros === undefined ? 'same machine, same sitting' : `CPU µs/msg node / nats-server / postgres: ${fmtMicros(r.cpuMicros.node)} / ${fmtMicros(r.cpuMicros.nats)} / ${fmtMicros(r.cpuMicros.postgres)}`
    return { phase: '2 baselines', case: `${WHAT[name]}, ${fmtRate(r.messages)} pre-filled`, figure: `committed+acked msg/s (run.sh ${name})`, value: fmtRate(r.perSec), check: cpu }
  })
}

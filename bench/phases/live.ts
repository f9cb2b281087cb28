/**
 * Phase 5: live latency. A publisher offers a fixed rate (core publish, one connection, so stream
 * sequence k is the k-th message sent); every reading carries its own publish time, to the microsecond,
 * in its `timestamp` field. The bench subscribes to the consumer's ack subject
 * ($JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>…): the service acks only after COMMIT, so
 * (time the ack is seen − publish time) is publish→commit plus one ack hop, the latency we report.
 * With ack policy `all` one ack covers every sequence at or below its own, so each ack settles the
 * whole range up to it; with `explicit` it settles its own message only (the rig reads which from the
 * consumer the service created).
 *
 * The same 10k msg/s step is taken in two database states: settled (CHECKPOINT, then a pause) and right
 * after the service drained a pre-filled backlog into the same database (the checkpoint that backlog's
 * WAL provokes lands in the step).
 */
import type { NatsConnection } from '@nats-io/transport-node'
import { checkpoint, createBenchEnv, pollUntil, sleep, type BenchEnv } from '../lib/env.js'
import { watchDrain, type DrainWatch } from '../lib/drain-watch.js'
import { liveReading, nowEpochMs } from '../lib/payloads.js'
import { percentile } from '../lib/report.js'
import { startService, type RunningService } from '../lib/service.js'

export interface LiveResult {
  readonly offered: number
  readonly achieved: number
  readonly messages: number
  readonly acked: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

const ACK = '+ACK'

export class LiveRig {
  readonly env: BenchEnv
  readonly #nc: NatsConnection
  readonly #service: RunningService
  readonly #ackAll: boolean
  #pubAt = new Float64Array(0)
  #ackAt = new Float64Array(0)
  #baseSeq = 0
  #acked = 0
  /** Ack policy `all`: every index below this one has its ack time. */
  #ackedBelow = 0

  private constructor (env: BenchEnv, service: RunningService, ackAll: boolean) {
    this.env = env
    this.#nc = env.nc
    this.#service = service
    this.#ackAll = ackAll
    const prefixTokens = 4 // $JS ACK <stream> <consumer>
    this.#nc.subscribe(`$JS.ACK.${env.stream}.${env.consumer}.>`, {
      callback: (_err, m) => {
        if (m.data.length > 0 && m.string() !== ACK) return
        const seq = Number(m.subject.split('.')[prefixTokens + 1]) - this.#baseSeq
        if (seq < 0) return
        if (this.#ackAll) {
          const top = Math.min(seq, this.#ackAt.length - 1)
          const at = nowEpochMs()
          for (; this.#ackedBelow <= top; this.#ackedBelow++) {
            if (this.#ackAt[this.#ackedBelow] === 0) { this.#ackAt[this.#ackedBelow] = at; this.#acked++ }
          }
          return
        }
        if (seq >= this.#ackAt.length || this.#ackAt[seq] !== 0) return
        this.#ackAt[seq] = nowEpochMs()
        this.#acked++
      },
    })
  }

  static async start (overrides: Record<string, string> = {}): Promise<LiveRig> {
    const env = await createBenchEnv('LIVE')
    const service = await startService({ ...env.cnc, ...overrides }, 'live')
    await pollUntil(env, () => true, 30_000, 20)
    const policy = (await env.jsm.consumers.info(env.stream, env.consumer)).config.ack_policy
    await env.nc.flush()
    return new LiveRig(env, service, policy === 'all')
  }

  /** CHECKPOINT, then `pauseMs` of nothing: the database as a quiet hour leaves it. */
  async settle (pauseMs: number): Promise<void> {
    await checkpoint()
    await sleep(pauseMs)
  }

  /** Pre-fills `payloads` into the rig's stream and waits (up to `deadlineMs`) until the service drained them. */
  async backlog (payloads: Iterable<Uint8Array>, deadlineMs: number): Promise<DrainWatch & { messages: number }> {
    const fromSeq = (await this.env.jsm.streams.info(this.env.stream)).state.last_seq
    await this.env.prefill(payloads)
    const untilSeq = (await this.env.jsm.streams.info(this.env.stream)).state.last_seq
    const w = await watchDrain(this.env, this.#service.pid, { fromSeq, untilSeq }, deadlineMs)
    return { ...w, messages: untilSeq - fromSeq }
  }

  /** Offers `rate` msg/s for `seconds`, then waits (up to `settleMs`) for every message to be acked. */
  async step (rate: number, seconds: number, settleMs = 20_000): Promise<LiveResult> {
    const total = Math.round(rate * seconds)
    this.#pubAt = new Float64Array(total)
    this.#ackAt = new Float64Array(total)
    this.#acked = 0
    this.#ackedBelow = 0
    this.#baseSeq = (await this.env.jsm.streams.info(this.env.stream)).state.last_seq + 1
    const machine = `LIVE-${rate}`
    const started = performance.now()
    let sent = 0
    // Tick every 2 ms and send what the schedule owes; bursts stay under 1/500 s of load.
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate))
      while (sent < due) {
        const at = nowEpochMs()
        this.#pubAt[sent] = at
        this.#nc.publish(this.env.subject, liveReading(machine, sent, at))
        sent++
      }
      await sleep(2)
    }
    const achieved = total / ((performance.now() - started) / 1000)
    await this.#nc.flush()
    const until = performance.now() + settleMs
    while (this.#acked < total && performance.now() < until) await sleep(20)
    const acked = this.#acked
    const lat = new Float64Array(total)
    for (let i = 0; i < total; i++) lat[i] = this.#ackAt[i] === 0 ? Infinity : (this.#ackAt[i] as number) - (this.#pubAt[i] as number)
    lat.sort()
    const result = { offered: rate, achieved, messages: total, acked, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[total - 1] as number }
    this.#pubAt = new Float64Array(0)
    this.#ackAt = new Float64Array(0)
    if (acked < total) await pollUntil(this.env, (c) => c.pending === 0 && c.ackPending === 0, 300_000, 100)
    return result
  }

  async close (): Promise<void> {
    await this.#service.stop()
    await this.env.cleanup()
  }
}

export const passes = (r: LiveResult): boolean => r.p99 < 1000 && r.achieved >= r.offered * 0.95

/**
 * Highest offered rate with p99 < 1 s. Starts from the fixed-rate steps already run: when one of them
 * failed, bisects (3 steps) between the best pass and the first failure; otherwise grows ×1.5 from `from`
 * until a step fails (or `cap`), then bisects twice.
 */
export async function searchSustained (rig: LiveRig, done: readonly LiveResult[], from: number, seconds: number, cap: number, onStep: (r: LiveResult) => void): Promise<LiveResult | undefined> {
  let best: LiveResult | undefined
  let fail: number | undefined
  for (const r of done) {
    if (passes(r)) { if (best === undefined || r.offered > best.offered) best = r } else if (fail === undefined || r.offered < fail) fail = r.offered
  }
  let bisections = 3
  if (fail === undefined) {
    bisections = 2
    for (let rate = Math.max(from, best?.offered ?? 0); rate <= cap; rate = Math.round(rate * 1.5 / 1000) * 1000) {
      const r = await rig.step(rate, seconds)
      onStep(r)
      if (!passes(r)) { fail = rate; break }
      best = r
    }
  }
  let lo = best?.offered ?? 0
  for (let i = 0; i < bisections && fail !== undefined; i++) {
    const rate = Math.round((lo + fail) / 2 / 1000) * 1000
    if (rate <= lo || rate >= fail) break
    const r = await rig.step(rate, seconds)
    onStep(r)
    if (passes(r)) { best = r; lo = rate } else fail = rate
  }
  return best
}

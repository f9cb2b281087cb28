/**
 * The clock and CPU meter of one drain of a pre-filled backlog (phases drain and batched, and the live
 * phase's backlog). The bench must not cost the parties it measures, so drain progress is polled every
 * 100 ms (one consumer-info request, ≈ 10 per second against the ≈ 60,000 acks nats-server handles):
 *
 *   service started ─▶ poll every 10 ms until the consumer shows a delivery        t0 = that poll's wall time
 *                      (nothing drains before it, so these polls cost the drain nothing)
 *                   ─▶ poll every 100 ms until everything up to `untilSeq` is delivered, nothing is
 *                      pending and nothing awaits ack                               t1 = the ack floor's time
 *
 * t1 is nats-server's own record of when the ack floor last moved (`ack_floor.last_active`): once nothing
 * awaits ack, the instant of the last ack, to the µs, whatever the polling interval. On a server that does
 * not report it, t1 is the time of the poll that saw the end (≤ 100 ms late). Both clocks are this
 * machine's wall clock. CPU is read from /proc at t0 and at the final poll only.
 */
import { consumerState, sleep, type BenchEnv, type ConsumerState } from './env.js'
import { CpuSplit, type CpuUse } from './procstat.js'

export const START_POLL_MS = 10
export const PROGRESS_POLL_MS = 100

export interface DrainWatch {
  /** t1 − t0 in seconds (to the deadline when it timed out). */
  readonly seconds: number
  /** True when the deadline passed before the consumer settled; the figures cover what settled by then. */
  readonly timedOut: boolean
  /** What ended the clock: the ack floor's own time, the poll that saw the end, or the deadline. */
  readonly endedBy: 'ack-floor' | 'poll' | 'deadline'
  /** The consumer as the last poll saw it. */
  readonly last: ConsumerState
  readonly cpu: CpuUse
}

/**
 * Waits for the service (pid `servicePid`) to drain the stream sequences `fromSeq` < seq ≤ `untilSeq`
 * (the backlog; the clock starts at the first delivery above `fromSeq`). Throws only when no such
 * delivery comes within `startTimeoutMs`; a drain that does not settle within `deadlineMs` of its first
 * delivery returns with `timedOut` (never hangs).
 */
export async function watchDrain (env: BenchEnv, servicePid: number, range: { fromSeq?: number, untilSeq: number }, deadlineMs: number, startTimeoutMs = 60_000): Promise<DrainWatch> {
  const { fromSeq = 0, untilSeq } = range
  const startBy = Date.now() + startTimeoutMs
  let s = await consumerState(env)
  while (s === null || s.delivered <= fromSeq) {
    if (Date.now() > startBy) throw new Error(`no delivery on consumer ${env.consumer} within ${startTimeoutMs} ms: ${JSON.stringify(s)}`)
    await sleep(START_POLL_MS)
    s = await consumerState(env)
  }
  const t0 = Date.now()
  const cpu = new CpuSplit(servicePid)
  cpu.start()
  const deadline = t0 + deadlineMs
  const settled = (c: ConsumerState): boolean => c.delivered >= untilSeq && c.pending === 0 && c.ackPending === 0
  while (!settled(s) && Date.now() < deadline) {
    await sleep(PROGRESS_POLL_MS)
    s = (await consumerState(env)) ?? s
  }
  const polledAt = Date.now()
  const use = cpu.stop()
  if (!settled(s)) return { seconds: (polledAt - t0) / 1000, timedOut: true, endedBy: 'deadline', last: s, cpu: use }
  const floor = s.ackFloorAt
  const exact = floor !== undefined && floor >= t0 && floor <= polledAt + 1_000
  return { seconds: ((exact ? floor : polledAt) - t0) / 1000, timedOut: false, endedBy: exact ? 'ack-floor' : 'poll', last: s, cpu: use }
}

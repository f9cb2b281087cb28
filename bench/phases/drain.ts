/**
 * Phase 2: drain a backlog. N readings are pre-filled into a fresh stream (untimed, core publish), then
 * the service starts; the clock runs from the first delivery the consumer reports (first pull) to the
 * poll that sees nothing pending and nothing awaiting ack (last ack). Peak RSS is the service's VmHWM
 * (main thread and parser workers are one process); the CPU split is /proc time over the same interval.
 */
import { createBenchEnv, pollUntil, type BenchEnv } from '../lib/env.js'
import { CpuSplit, memoryMb, type CpuShares } from '../lib/procstat.js'
import { startService } from '../lib/service.js'

export interface DrainResult {
  readonly messages: number
  readonly seconds: number
  readonly perSec: number
  readonly peakRssMb: number
  readonly cpu: CpuShares
  readonly rowsOk: boolean
  /** From the service's /metrics: batches committed, mean messages per batch, mean BEGIN→COMMIT ms. */
  readonly batches: number
  readonly meanBatch: number
  readonly meanCommitMs: number
}

/** Runs one drain; `keep` leaves the environment (stream still full) to the caller, who must clean it up. */
export async function drainOnce (payloads: readonly Uint8Array[], overrides: Record<string, string> = {}, keep = false): Promise<{ result: DrainResult, env: BenchEnv | undefined }> {
  const env = await createBenchEnv('DRAIN')
  let handed = false
  try {
    await env.prefill(payloads)
    const n = payloads.length
    const service = await startService({ ...env.cnc, ...overrides }, 'drain')
    let result: DrainResult
    try {
      const cpu = new CpuSplit(service.pid)
      const t0 = await pollUntil(env, (c) => c.delivered > 0, 60_000, 2)
      cpu.start()
      const t1 = await pollUntil(env, (c) => c.delivered >= n && c.pending === 0 && c.ackPending === 0, 600_000, 5)
      const split = cpu.stop()
      const mem = memoryMb(service.pid)
      const batches = await service.metric('cnc_commit_duration_seconds_count')
      const commitSum = await service.metric('cnc_commit_duration_seconds_sum')
      const batchSum = await service.metric('cnc_batch_size_sum')
      const [row] = await env.query<{ n: string }>('SELECT count(*) AS n FROM sensor_data')
      const seconds = (t1 - t0) / 1000
      result = { messages: n, seconds, perSec: n / seconds, peakRssMb: mem.peak, cpu: split, rowsOk: Number(row?.n) === n, batches, meanBatch: batchSum / batches, meanCommitMs: 1000 * commitSum / batches }
    } finally {
      await service.stop()
    }
    handed = keep
    return { result, env: keep ? env : undefined }
  } finally {
    if (!handed) await env.cleanup()
  }
}

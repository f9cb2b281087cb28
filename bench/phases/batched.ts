/**
 * Phase 4: drain of batched payloads. M messages are pre-filled, each a JSON array of 100 readings (the
 * drain's reading shape, every reading its own machine/timestamp pair, so every reading is one row);
 * PostgreSQL is checkpointed, the service starts, and the clock runs as in the drain (bench/lib/drain-watch.ts)
 * until the consumer has every message settled: nothing pending and nothing awaiting ack. That counts a
 * message whether its readings were committed or dead-lettered, so the phase ends either way; rows are
 * then counted and compared with what was sent. A drain that does not settle by the deadline is reported
 * as it stands (rows so far, MISSED) and the run moves on.
 */
import { checkpoint, createBenchEnv } from '../lib/env.js'
import { watchDrain, type DrainWatch } from '../lib/drain-watch.js'
import { batchedPayloads } from '../lib/payloads.js'
import { memoryMb, microsPer, type CpuShares } from '../lib/procstat.js'
import { fmtMicros, fmtRate, targetCheck, type Row } from '../lib/report.js'
import { startService } from '../lib/service.js'
import { batchFigures } from './drain.js'

export const READINGS_PER_MESSAGE = 100
/** Readings per second ÷ the crude loop's messages per second (issue 11). */
export const BATCHED_RATIO_TARGET = 4

export interface BatchedResult {
  readonly messages: number
  readonly readingsExpected: number
  readonly rows: number
  /** Rows in rejected_messages, by reason. */
  readonly deadLetters: Readonly<Record<string, number>>
  readonly seconds: number
  /** Rows committed (and their messages acked) per second of the drain. */
  readonly readingsPerSec: number
  readonly messagesPerSec: number
  readonly complete: boolean
  readonly endedBy: DrainWatch['endedBy']
  readonly peakRssMb: number
  readonly cpuCores: CpuShares
  /** CPU µs per reading expected: service / nats-server / postgres / everything else. */
  readonly cpuMicrosPerReading: CpuShares
  readonly batches: number
  readonly meanBatch: number
  readonly meanCommitMs: number
}

export async function batchedDrain (messages: number, deadlineMs: number): Promise<BatchedResult> {
  const env = await createBenchEnv('BATCHED')
  try {
    await env.prefill(batchedPayloads(messages, READINGS_PER_MESSAGE, 'BATCH'))
    await checkpoint()
    const service = await startService(env.cnc, 'batched')
    try {
      const w = await watchDrain(env, service.pid, { untilSeq: messages }, deadlineMs)
      const mem = memoryMb(service.pid)
      const [row] = await env.query<{ n: string }>('SELECT count(*) AS n FROM sensor_data')
      const dead = await env.query<{ reason: string, n: string }>('SELECT reason, count(*) AS n FROM rejected_messages GROUP BY reason ORDER BY reason')
      const rows = Number(row?.n)
      const readingsExpected = messages * READINGS_PER_MESSAGE
      const settledMessages = w.timedOut ? Math.max(0, w.last.delivered - w.last.ackPending) : messages
      return {
        messages,
        readingsExpected,
        rows,
        deadLetters: Object.fromEntries(dead.map((d) => [d.reason, Number(d.n)])),
        seconds: w.seconds,
        readingsPerSec: rows / w.seconds,
        messagesPerSec: settledMessages / w.seconds,
        complete: !w.timedOut,
        endedBy: w.endedBy,
        peakRssMb: mem.peak,
        cpuCores: w.cpu.cores,
        cpuMicrosPerReading: microsPer(w.cpu, readingsExpected),
        ...await batchFigures(service),
      }
    } finally {
      await service.stop()
    }
  } finally {
    await env.cleanup()
  }
}

/** The table rows; `crudePerSec` is undefined when the crude baseline was not measured in this run. */
export function batchedRows (r: BatchedResult, crudePerSec: number | undefined): Row[] {
  const all = r.rows === r.readingsExpected
  const deadTotal = Object.values(r.deadLetters).reduce((a, b) => a + b, 0)
  const dead = deadTotal === 0 ? 'no dead letters' : `${fmtRate(deadTotal)} dead letters (${Object.entries(r.deadLetters).map(([k, v]) => `${k} ${fmtRate(v)}`).join(', ')})`
  const settled = r.complete ? 'every message settled' : `NOT settled by the deadline (${r.seconds.toFixed(0)} s)`
  const ratio = crudePerSec === undefined ? NaN : r.readingsPerSec / crudePerSec
  const c = r.cpuMicrosPerReading
  return [
    {
      phase: '4 batched',
      case: `${fmtRate(r.messages)} msgs × ${READINGS_PER_MESSAGE} readings pre-filled`,
      figure: 'readings/s committed+acked, first pull → last ack',
      value: fmtRate(r.readingsPerSec),
      check: `rows ${fmtRate(r.rows)} of ${fmtRate(r.readingsExpected)}: ${all ? 'all committed' : 'MISSED'}; ${dead}; ${settled}; ${fmtRate(r.messagesPerSec)} msg/s`,
    },
    {
      phase: '4 batched',
      case: 'batched readings/s ÷ crude msg/s',
      figure: 'ratio (readings/s ÷ crude loop msg/s)',
      value: Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '—',
      check: crudePerSec === undefined ? 'not available: crude baseline not measured in this run' : `target ≥ ${BATCHED_RATIO_TARGET}×: ${all ? targetCheck(ratio, BATCHED_RATIO_TARGET, true) : 'MISSED (not every reading committed)'}`,
    },
    {
      phase: '4 batched',
      case: 'CPU per reading, peak RSS',
      figure: 'CPU µs/reading: service / nats-server / postgres',
      value: `${fmtMicros(c.service)} / ${fmtMicros(c.nats)} / ${fmtMicros(c.postgres)}`,
      check: `everything else ${fmtMicros(c.other)} µs/reading; peak RSS ${r.peakRssMb.toFixed(0)} MB; ${r.batches === 0 ? 'no batch committed' : `${fmtRate(r.batches)} batches of ${r.meanBatch.toFixed(0)} msgs, BEGIN→COMMIT ${r.meanCommitMs.toFixed(0)} ms mean`}`,
    },
  ]
}

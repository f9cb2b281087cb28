/**
 * Phase 1: the original design's three publishing scripts against the running service, one after the
 * other, each measured two ways that must never be confused:
 *   publish-only msg/s   first publish → last JetStream publish ack (what performance.go timed: 44,643)
 *   end-to-end msg/s     first publish → last row committed and acked (consumer: nothing pending; the
 *                        instant is nats-server's ack-floor time, polled every 100 ms)
 * Publishing is as the scripts do it: js.publish (acked by JetStream), concurrent per machine/publisher.
 */
import { jetstream } from '@nats-io/jetstream'
import { encode, makeReading } from '../seed/readings.js'
import { createBenchEnv, pollUntil, sleep, type BenchEnv, type ConsumerState } from '../lib/env.js'
import { PROGRESS_POLL_MS } from '../lib/drain-watch.js'
import { fmtMs, fmtRate, type Row } from '../lib/report.js'
import { startService } from '../lib/service.js'

const MALFORMED = '{"machine_id": "CNC-MALFORMED", "temperature": "not-a-float"}'

interface Scenario {
  readonly name: string
  readonly valid: number
  readonly malformed: number
  /** machine_id → rows expected. */
  readonly expect: Record<string, number>
  publish (env: BenchEnv): Promise<void>
}

const scenarios: Scenario[] = [
  {
    name: 'publish_test_data (1)',
    valid: 1,
    malformed: 0,
    expect: { 'CNC-001': 1 },
    async publish (env) { await jetstream(env.nc).publish(env.subject, encode(makeReading('CNC-001', 1))) },
  },
  {
    name: 'stress (5×20 + malformed)',
    valid: 100,
    malformed: 1,
    expect: Object.fromEntries(Array.from({ length: 5 }, (_, m) => [`CNC-STRESS-${m}`, 20])),
    async publish (env) {
      const js = jetstream(env.nc)
      await Promise.all(Array.from({ length: 5 }, async (_, m) => {
        for (let i = 0; i < 20; i++) {
          await js.publish(env.subject, encode(makeReading(`CNC-STRESS-${m}`, i)))
          if (i < 19) await sleep(100)
        }
      }))
      await js.publish(env.subject, encode(MALFORMED))
    },
  },
  {
    name: 'performance (10×1000)',
    valid: 10_000,
    malformed: 0,
    expect: Object.fromEntries(Array.from({ length: 10 }, (_, p) => [`PERF-TEST-${p}`, 1000])),
    async publish (env) {
      const js = jetstream(env.nc)
      await Promise.all(Array.from({ length: 10 }, async (_, p) => {
        for (let i = 0; i < 1000; i++) await js.publish(env.subject, encode(makeReading(`PERF-TEST-${p}`, i)))
      }))
    },
  },
]

export async function seedScenarios (): Promise<{ rows: Row[], json: unknown[] }> {
  const env = await createBenchEnv('SEED')
  const service = await startService(env.cnc, 'seed')
  const rows: Row[] = []
  const json: unknown[] = []
  try {
    await pollUntil(env, () => true, 30_000, 20) // the consumer exists
    let total = 0
    let rejectedBefore = 0
    for (const s of scenarios) {
      const count = s.valid + s.malformed
      total += count
      const t0 = performance.now()
      const wall0 = Date.now()
      await s.publish(env)
      const tPub = performance.now()
      // Polled every 100 ms so the bench costs the server nothing; the end is nats-server's ack-floor time.
      let last: ConsumerState | undefined
      const tPoll = await pollUntil(env, (c) => { last = c; return c.delivered >= total && c.pending === 0 && c.ackPending === 0 }, 60_000, PROGRESS_POLL_MS)
      const floor = last?.ackFloorAt
      const tDone = floor !== undefined && floor >= wall0 && floor - wall0 <= tPoll - t0 + 1_000 ? t0 + (floor - wall0) : tPoll
      const machines = Object.keys(s.expect)
      const got = await env.query<{ machine_id: string, n: string }>('SELECT machine_id, count(*) AS n FROM sensor_data WHERE machine_id = ANY($1) GROUP BY 1', [machines])
      const counts = Object.fromEntries(got.map((r) => [r.machine_id, Number(r.n)]))
      const exact = machines.every((m) => counts[m] === s.expect[m])
      const [rej] = await env.query<{ n: string }>('SELECT count(*) AS n FROM rejected_messages')
      const rejected = Number(rej?.n) - rejectedBefore
      rejectedBefore += rejected
      const ok = exact && rejected === s.malformed
      const check = `${ok ? 'ok' : 'FAILED'}: ${s.valid} rows exact per machine${s.malformed > 0 ? `, ${rejected}/${s.malformed} malformed dead-lettered` : ''}, nothing pending`
      const pubMs = tPub - t0
      const e2eMs = tDone - t0
      rows.push(
        { phase: '1 seed', case: s.name, figure: 'publish-only msg/s (JetStream acked the publish)', value: `${fmtRate(count / (pubMs / 1000))} (${fmtMs(pubMs)})`, check: 'not stored: the 44,643 kind' },
        { phase: '1 seed', case: s.name, figure: 'end-to-end msg/s (first publish → last commit+ack)', value: `${fmtRate(count / (e2eMs / 1000))} (${fmtMs(e2eMs)})`, check }
      )
      json.push({ scenario: s.name, messages: count, publishMs: pubMs, endToEndMs: e2eMs, publishOnlyPerSec: count / (pubMs / 1000), endToEndPerSec: count / (e2eMs / 1000), rowsPerMachine: counts, rejected, ok })
      if (!ok) process.exitCode = 1
    }
  } finally {
    await service.stop()
    await env.cleanup()
  }
  return { rows, json }
}

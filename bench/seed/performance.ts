/**
 * The seed's performance script: 10 concurrent publishers × 1,000 readings, no delay.
 * It prints the publish-only rate, the kind of figure the original design quoted as 44,643 msg/s:
 * it says how fast JetStream accepted the messages, not how fast anything was stored.
 */
import { jetstream } from '@nats-io/jetstream'
import { connectNats, encode, makeReading, streamName } from './readings.js'

const PUBLISHERS = 10
const PER_PUBLISHER = 1000

const nc = await connectNats()
const js = jetstream(nc)
const subject = `${streamName()}.metrics`
const started = performance.now()
await Promise.all(Array.from({ length: PUBLISHERS }, async (_, p) => {
  for (let i = 0; i < PER_PUBLISHER; i++) await js.publish(subject, encode(makeReading(`PERF-TEST-${p}`, i)))
}))
const ms = performance.now() - started
const total = PUBLISHERS * PER_PUBLISHER
console.log(`published ${total} readings (PERF-TEST-0..${PUBLISHERS - 1} × ${PER_PUBLISHER}) to ${subject} in ${ms.toFixed(0)} ms: ${Math.round(total / (ms / 1000))} msg/s publish-only (not stored-and-acked; see make perf for end to end)`)
await nc.close()

/**
 * The seed's stress script: 5 machines × 20 readings, 100 ms apart per machine, published concurrently,
 * plus one malformed message (temperature as a string), which must end as a dead letter.
 */
import { jetstream } from '@nats-io/jetstream'
import { setTimeout as sleep } from 'node:timers/promises'
import { connectNats, encode, makeReading, streamName } from './readings.js'

export const STRESS_MACHINES = 5
export const STRESS_PER_MACHINE = 20
export const MALFORMED = '{"machine_id": "CNC-MALFORMED", "temperature": "not-a-float"}'

const nc = await connectNats()
const js = jetstream(nc)
const subject = `${streamName()}.metrics`
const started = Date.now()
await Promise.all(Array.from({ length: STRESS_MACHINES }, async (_, m) => {
  for (let i = 0; i < STRESS_PER_MACHINE; i++) {
    await js.publish(subject, encode(makeReading(`CNC-STRESS-${m}`, i)))
    await sleep(100)
  }
}))
await js.publish(subject, encode(MALFORMED))
console.log(`published ${STRESS_MACHINES * STRESS_PER_MACHINE} readings (CNC-STRESS-0..${STRESS_MACHINES - 1} × ${STRESS_PER_MACHINE}) and 1 malformed message to ${subject} in ${Date.now() - started} ms`)
await nc.close()

/** The seed's publish_test_data: one reading for CNC-001, published with a JetStream ack. */
import { jetstream } from '@nats-io/jetstream'
import { connectNats, encode, makeReading, streamName } from './readings.js'

const nc = await connectNats()
const js = jetstream(nc)
const reading = makeReading('CNC-001', 1)
const ack = await js.publish(`${streamName()}.metrics`, encode(reading))
console.log(`published 1 message for CNC-001 to ${streamName()}.metrics (stream seq ${ack.seq})`)
console.log(JSON.stringify(reading))
await nc.close()

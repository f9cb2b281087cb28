import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { loadConfig } from '../../src/config/load.js'
import { ensureStream, streamLimits } from '../../src/ingest/jetstream-setup.js'
import { NATS_URL, uniqueName } from '../helpers/test-env.js'

/** A pino logger whose lines land in `lines`. */
function capturingLog (lines: Array<Record<string, unknown>>) {
  return pino({ level: 'info' }, new Writable({
    write (chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done() },
  }))
}

describe('stream limits from nats.stream_*', () => {
  let nc: NatsConnection
  let jsm: JetStreamManager
  const streams: string[] = []
  before(async () => {
    nc = await connect({ servers: NATS_URL, noAsyncTraces: true })
    jsm = await jetstreamManager(nc)
  })
  after(async () => {
    for (const s of streams) await jsm.streams.delete(s).catch(() => {})
    await nc.close()
  })

  it('defaults: 7 days max_age, no byte limit, discard old, one replica', () => {
    const l = streamLimits(loadConfig([], {}))
    assert.deepEqual(l, { max_age: nanos(7 * 86_400_000), max_bytes: -1, max_msg_size: -1, discard: 'old', num_replicas: 1 })
  })

  it('applies the configured limits to a stream it creates, and leaves an existing one as it is', async () => {
    const name = uniqueName('LIMITS').toUpperCase()
    streams.push(name)
    const cfg = loadConfig([], {
      CNC_NATS_STREAM_MAX_AGE_MS: '3600000',
      CNC_NATS_STREAM_MAX_BYTES: '104857600',
      CNC_NATS_STREAM_MAX_MSG_SIZE: '131072',
      CNC_NATS_STREAM_DISCARD: 'new',
    })
    const lines: Array<Record<string, unknown>> = []
    await ensureStream(jsm, name, capturingLog(lines), streamLimits(cfg))
    const c = (await jsm.streams.info(name)).config
    assert.equal(c.max_age, nanos(3_600_000))
    assert.equal(c.max_bytes, 104_857_600)
    assert.equal(c.max_msg_size, 131_072)
    assert.equal(c.discard, 'new')
    assert.equal(c.num_replicas, 1)

    // Started again with other limits: the stream is not changed, and one line says how it differs.
    const key = await ensureStream(jsm, name, capturingLog(lines), streamLimits(loadConfig([], {})))
    assert.match(key, new RegExp(`^${name}@`))
    const after = (await jsm.streams.info(name)).config
    assert.equal(after.max_age, nanos(3_600_000))
    assert.equal(after.discard, 'new')
    const warn = lines.find((l) => typeof l.msg === 'string' && l.msg.includes('limits differ'))
    assert.ok(warn, 'a warning names the differing limits')
    const differ = warn.differ as string[]
    assert.deepEqual(differ.map((d) => d.split(':')[0]).sort(), ['discard', 'max_age', 'max_bytes', 'max_msg_size'])
  })

  it('refuses an unknown discard policy in one line naming the key', () => {
    assert.throws(() => loadConfig([], { CNC_NATS_STREAM_DISCARD: 'oldest' }), /nats\.stream_discard/)
  })
})

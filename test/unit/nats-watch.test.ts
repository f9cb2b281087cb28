/**
 * The NATS status watch (src/ingest/nats-watch.ts): disconnected from a disconnect to the reconnect,
 * which counts a reconnect and asks for fresh pulls; closed means disconnected. No network: the
 * connection's status stream is scripted.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { NatsWatch } from '../../src/ingest/nats-watch.js'
import { createMetrics } from '../../src/metrics.js'

type Event = { type: 'disconnect' | 'reconnect', server: string }

/** A status stream the test pushes events into, one at a time. */
function scripted (): { nc: NatsConnection, push: (e: Event) => Promise<void>, close: () => void } {
  let closed = false
  let wake: ((e: Event | null) => void) | undefined
  let handled: (() => void) | undefined
  const status = async function * (): AsyncGenerator<Event> {
    for (;;) {
      const e = await new Promise<Event | null>((resolve) => { wake = resolve; handled?.() })
      if (e === null) return
      yield e
    }
  }
  const nc = { status, isClosed: () => closed } as unknown as NatsConnection
  // Resolves once the watch has handled the event and waits for the next one.
  const push = (e: Event): Promise<void> => new Promise((resolve) => { handled = resolve; wake?.(e) })
  return { nc, push, close: () => { closed = true; wake?.(null) } }
}

describe('NATS status watch', () => {
  it('follows disconnects and reconnects; each reconnect counts and asks for fresh pulls', async () => {
    const { nc, push, close } = scripted()
    const metrics = createMetrics()
    let resets = 0
    const watch = new NatsWatch(nc, () => { resets++ }, metrics, pino({ level: 'silent' }))
    assert.equal(watch.connected, false, 'not before start()')
    watch.start()
    assert.equal(watch.connected, true)
    await new Promise((resolve) => setImmediate(resolve))
    await push({ type: 'disconnect', server: 'a' })
    assert.equal(watch.connected, false)
    assert.equal(resets, 0)
    await push({ type: 'reconnect', server: 'b' })
    assert.equal(watch.connected, true)
    assert.equal(resets, 1)
    assert.equal((await metrics.natsReconnects.get()).values[0]?.value, 1)
    close()
    assert.equal(watch.connected, false, 'a closed connection is not connected')
  })
})

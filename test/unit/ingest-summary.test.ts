/**
 * The ingest summary (src/ops/ingest-summary.ts): consumer gauges refreshed each interval and kept
 * while JetStream is away; one log line per interval with traffic, none without. No network:
 * consumerInfo() is scripted, the interval runs on mocked timers.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import { pino } from 'pino'
import { createMetrics } from '../../src/metrics.js'
import { IngestSummary, type ConsumerCounts } from '../../src/ops/ingest-summary.js'

function capture (): { log: pino.Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'info' }, new Writable({ write (chunk, _enc, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done() } }))
  return { log, lines }
}

const gauge = async (g: { get: () => Promise<{ values: Array<{ value: number }> }> }): Promise<number | undefined> => (await g.get()).values[0]?.value

/** Yields to the event loop until `cond` holds; mocked Date does not move, so turns are counted. */
async function until (what: string, cond: () => boolean): Promise<void> {
  for (let turn = 0; turn < 10_000; turn++) {
    if (cond()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error(`never happened: ${what}`)
}

describe('ingest summary', () => {
  beforeEach(() => { mock.timers.enable({ apis: ['setInterval', 'Date'] }) })
  afterEach(() => { mock.timers.reset() })

  it('sets the consumer gauges and logs the interval\'s counts; keeps the gauges while JetStream is away', async () => {
    const metrics = createMetrics()
    const { log, lines } = capture()
    let info: () => Promise<ConsumerCounts> = async () => ({ num_pending: 7, num_ack_pending: 3 })
    let asked = 0
    const summary = new IngestSummary({ everyMs: 1_000, metrics, consumerInfo: () => { asked++; return info() }, inFlight: () => 2, log })
    summary.start()
    metrics.received.inc(100)
    metrics.committed.inc(90)
    metrics.rejected.inc({ reason: 'invalid_json' }, 10)
    mock.timers.tick(1_000)
    await until('the summary line', () => lines.some((l) => l.msg === 'ingest summary'))
    assert.equal(await gauge(metrics.consumerPending), 7)
    assert.equal(await gauge(metrics.consumerAckPending), 3)
    const { msgPerSec, received, committed, rejected, inFlight } = lines.find((l) => l.msg === 'ingest summary') ?? {}
    assert.deepEqual({ msgPerSec, received, committed, rejected, inFlight }, { msgPerSec: 100, received: 100, committed: 90, rejected: 10, inFlight: 2 })

    info = async () => { throw new Error('NATS away') }
    mock.timers.tick(1_000)
    await until('the second round', () => asked === 2)
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(await gauge(metrics.consumerPending), 7, 'last value kept')
    assert.equal(lines.filter((l) => l.msg === 'ingest summary').length, 1, 'no line for an interval without traffic')
    summary.close()
    mock.timers.tick(5_000)
    assert.equal(asked, 2, 'closed: no more rounds')
  })

  it('does nothing when the interval is 0', () => {
    let asked = 0
    const summary = new IngestSummary({ everyMs: 0, metrics: createMetrics(), consumerInfo: async () => { asked++; return { num_pending: 0, num_ack_pending: 0 } }, inFlight: () => 0, log: capture().log })
    summary.start()
    mock.timers.tick(60_000)
    summary.close()
    assert.equal(asked, 0)
  })
})

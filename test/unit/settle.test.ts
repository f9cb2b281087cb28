/**
 * Settler on a fake connection: one constant payload per message (+ACK, +TERM, -NAK {delay}, +WPI),
 * only the messages asked for, and none per message under ack policy `all` (the AckFloor acks by range).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { NatsConnection } from '@nats-io/transport-node'
import { AckFloor, type FloorSource } from '../../src/ack/ack-floor.js'
import { Settler } from '../../src/ack/settle.js'
import type { Rejection } from '../../src/contracts.js'
import { RejectCode } from '../../src/errors.js'
import { ackReply, FakeConnection, quiet } from './ingest-fakes.js'

const replies = [1, 2, 3, 4].map((s) => ackReply(s))
const sent = (nc: FakeConnection): Array<[string, string]> => nc.published.map((m) => [m.subject, m.data])

describe('Settler', () => {
  it('acks committed messages and terms the ones refused whole; a refused array element is acked', () => {
    const nc = new FakeConnection()
    const rejections: Rejection[] = [{ index: 1, code: RejectCode.invalidJson, detail: 'x' }, { index: 2, element: 0, code: RejectCode.schema, detail: 'y' }]
    const counts = new Settler(nc).committed(replies, rejections)
    assert.deepEqual(counts, { acked: 3, termed: 2 })
    assert.deepEqual(sent(nc), [[replies[0], '+ACK'], [replies[1], '+TERM'], [replies[2], '+ACK'], [replies[3], '+ACK']])
  })

  it('settles only the messages marked in `only`', () => {
    const nc = new FakeConnection()
    new Settler(nc).committed(replies, [], Uint8Array.of(0, 1, 0, 1))
    assert.deepEqual(sent(nc), [[replies[1], '+ACK'], [replies[3], '+ACK']])
  })

  it('naks with the delay in nanoseconds (at least 1 ms), skipping settled messages', () => {
    const nc = new FakeConnection()
    const s = new Settler(nc)
    s.nak(replies, 250, Uint8Array.of(1, 0, 1, 0))
    s.nak(replies.slice(0, 1), 0)
    assert.deepEqual(sent(nc), [[replies[1], '-NAK {"delay":250000000}'], [replies[3], '-NAK {"delay":250000000}'], [replies[0], '-NAK {"delay":1000000}']])
  })

  it('keeps unsettled messages alive with +WPI', () => {
    const nc = new FakeConnection()
    new Settler(nc).keepAlive(replies, Uint8Array.of(0, 0, 1, 1))
    assert.deepEqual(sent(nc), [[replies[0], '+WPI'], [replies[1], '+WPI']])
  })

  it('under ack policy all: nothing per message, one +ACK on the highest message the floor covers', () => {
    const nc = new FakeConnection()
    const none = async (): Promise<never> => { throw new Error('not asked in this test') }
    const src: FloorSource = { settledThrough: none, consumerAckFloor: none, streamFirstSeq: none, messageExists: none, recordAbsent: none }
    const floor = new AckFloor(nc as unknown as NatsConnection, src, () => 'S@1', 0, quiet)
    const s = new Settler(nc, floor)
    assert.equal(s.ackFloor, 0)
    const counts = s.committed(replies, [{ index: 0, code: RejectCode.invalidJson, detail: 'x' }], undefined, [1, 2, 3, 4], 3)
    assert.deepEqual(counts, { acked: 3, termed: 1 })
    assert.deepEqual(sent(nc), [[replies[2], '+ACK']], 'a range ack through 3; never +TERM')
    assert.equal(floor.held, 1, 'message 4 waits for the floor')
  })
})

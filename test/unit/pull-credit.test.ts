/**
 * PullCredit: the next pull request the grant allows (ingest/pull-credit.ts), and what is owed.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PullCredit } from '../../src/ingest/pull-credit.js'

const OPTS = { batchSize: 100, maxPayloadBytes: 65_536, maxBatchBytes: 1_048_576 }
const SERVER_MAX = 1_048_576
const ONE = SERVER_MAX + 65_536
const CAP = 2 * 1_048_576 + 65_536
const all = { messages: Infinity, bytes: Infinity }
const parse = (body: string | undefined): { batch: number, max_bytes: number } | undefined => body === undefined ? undefined : JSON.parse(body) as { batch: number, max_bytes: number }

describe('PullCredit', () => {
  it('asks for two batches at the byte cap, and nothing more until owed falls below one batch', () => {
    const c = new PullCredit(OPTS, SERVER_MAX)
    assert.deepEqual(parse(c.next(all, 0, 0)), { batch: 200, max_bytes: CAP, expires: 5e9, idle_heartbeat: 1e9 })
    assert.equal(c.owed, 200)
    for (let i = 0; i < 100; i++) c.delivered(10)
    assert.equal(c.next(all, 0, 0), undefined, 'owed 100: not below one batch')
    c.delivered(10)
    assert.equal(parse(c.next(all, 0, 0))?.batch, 200)
  })

  it('asks for what the grant leaves beyond owed and building, but no sliver while a request is open', () => {
    const c = new PullCredit(OPTS, SERVER_MAX)
    assert.equal(parse(c.next({ messages: 150, bytes: Infinity }, 30, 0))?.batch, 120)
    for (let i = 0; i < 60; i++) c.delivered(10)
    assert.equal(c.next({ messages: 150, bytes: Infinity }, 30, 0), undefined, '150 − 60 owed − 30 building = 60 < one batch while 60 are owed')
    c.ended(60, 0)
    assert.equal(parse(c.next({ messages: 150, bytes: Infinity }, 30, 0))?.batch, 120, 'nothing owed: ask')
    assert.equal(new PullCredit(OPTS, SERVER_MAX).next({ messages: 0, bytes: Infinity }, 0, 0), undefined)
  })

  it('bounds a request in bytes by the grant, never below one whole message', () => {
    const c = new PullCredit(OPTS, SERVER_MAX)
    assert.equal(parse(c.next({ messages: Infinity, bytes: 10 }, 0, 0))?.max_bytes, ONE)
    assert.equal(parse(new PullCredit(OPTS, SERVER_MAX).next({ messages: Infinity, bytes: 2_000_000 }, 0, 0))?.max_bytes, 2_000_000)
    assert.equal(new PullCredit(OPTS, SERVER_MAX).next({ messages: Infinity, bytes: 500 }, 0, 500), undefined, 'the builder holds the byte grant')
  })

  it('forgets what is owed when a request ends with everything undelivered, or on forget()', () => {
    const c = new PullCredit(OPTS, SERVER_MAX)
    c.next(all, 0, 0)
    c.ended(200, CAP)
    assert.equal(c.owed, 0)
    c.next(all, 0, 0)
    c.forget()
    assert.equal(c.owed, 0)
    assert.equal(parse(c.next({ messages: Infinity, bytes: CAP }, 0, 0))?.max_bytes, CAP, 'owed bytes forgotten too')
  })
})

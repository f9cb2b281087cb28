/**
 * Pipeline with a fake parser and writer and a real Settler on a fake connection: what it acks and
 * when, the grant it gives the source, its states (pipeline-state.ts, asserted strictly here), and a
 * close() that every caller waits on.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Settler } from '../../src/ack/settle.js'
import type { CommitResult, ParsedBatch, RawBatch } from '../../src/contracts.js'
import { createMetrics } from '../../src/metrics.js'
import type { ParserPool } from '../../src/parse/parser-pool.js'
import { Pipeline, type PipelineOptions } from '../../src/pipeline.js'
import { PipelineStates, type PipelineEvent, type PipelineState } from '../../src/pipeline-state.js'
import type { CopyWriter } from '../../src/write/copy-writer.js'
import { FakeConnection, ingestBatch, parsedOf, quiet, until } from './ingest-fakes.js'

type Write = (part: ParsedBatch) => Promise<CommitResult>

let commits = 0
const committed = (part: ParsedBatch): CommitResult => ({ type: 'committed', rows: part.rowEnds.length, rejections: [], alreadyCommitted: [], durationMs: 1, commitNo: ++commits })
const away = (): CommitResult => ({ type: 'failed', error: Object.assign(new Error('the database system is shutting down'), { code: '57P01' }) })

interface Rig { readonly p: Pipeline, readonly nc: FakeConnection, wakes: number, write: Write, parse: (raw: RawBatch) => Promise<ParsedBatch> }

function rig (opts: Partial<PipelineOptions> = {}): Rig {
  const nc = new FakeConnection()
  const r = { nc, wakes: 0, write: async (part: ParsedBatch) => committed(part), parse: async (raw: RawBatch) => parsedOf(raw) } as Omit<Rig, 'p'> & { p?: Pipeline }
  const parser = { parse: (raw: RawBatch) => r.parse(raw) } as unknown as ParserPool
  const writer = { write: (part: ParsedBatch) => r.write(part) } as unknown as CopyWriter
  const p = new Pipeline(parser, writer, new Settler(nc), createMetrics(), quiet, {
    maxInFlight: 1,
    ackWaitMs: 60_000,
    nakDelayMs: 500,
    streamKey: () => 'S@1',
    probeWrite: async () => { throw new Error('database away') },
    retryMaxBackoffMs: 100,
    maxWriteAttempts: 3,
    bound: { messages: 10, bytes: 1_000_000 },
    strictStates: true,
    ...opts,
  })
  p.onGrant(() => { r.wakes++ })
  r.p = p
  return r as Rig
}

/** A write that waits for the test to let it finish. */
function gated (): { write: Write, open: () => void } {
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => { open = resolve })
  return { write: async (part) => { await gate; return committed(part) }, open }
}

const sent = (nc: FakeConnection, data: string): string[] => nc.published.filter((m) => m.data === data).map((m) => m.subject)
const naks = (nc: FakeConnection): string[] => nc.published.filter((m) => m.data.startsWith('-NAK')).map((m) => m.subject)

describe('Pipeline', () => {
  it('acks each message after its COMMIT and gives the grant back, waking the source', async () => {
    const r = rig()
    const b = ingestBatch(3)
    r.p.accept(b)
    assert.deepEqual({ ...r.p.grant }, { messages: 7, bytes: 1_000_000 - 12 })
    await until('the acks', () => sent(r.nc, '+ACK').length === 3)
    assert.deepEqual(sent(r.nc, '+ACK'), b.replies)
    await until('the grant back', () => r.p.grant.messages === 10 && r.wakes === 1)
    assert.equal(r.p.state, 'running')
    assert.equal(await r.p.close(1_000), true)
  })

  it('is ready() only while a batch would start at once', async () => {
    const r = rig()
    const g = gated()
    r.write = g.write
    assert.equal(r.p.ready(), true)
    r.p.accept(ingestBatch(2, 1))
    assert.equal(r.p.ready(), false, 'max_in_flight reached')
    r.p.accept(ingestBatch(2, 3))
    assert.equal(r.p.queued, 1)
    g.open()
    await until('both committed', () => sent(r.nc, '+ACK').length === 4)
    await until('ready again', () => r.p.ready())
    assert.equal(await r.p.close(1_000), true)
  })

  it('holds a batch while the database is away, retries it, and resumes', async () => {
    const r = rig()
    let failures = 2
    r.write = async (part) => failures-- > 0 ? away() : committed(part)
    r.p.accept(ingestBatch(2))
    await until('db-down', () => r.p.state === 'db-down')
    assert.equal(r.p.refusal, 'SQLSTATE 57P01')
    assert.equal(r.p.ready(), false)
    await until('committed after the retries', () => sent(r.nc, '+ACK').length === 2)
    await until('running', () => r.p.state === 'running')
    assert.equal(r.p.refusal, undefined)
    assert.deepEqual(naks(r.nc), [], 'a held batch is never nak\'d into JetStream\'s backoff')
    assert.equal(await r.p.close(1_000), true)
  })

  it('close() while the database is away: draining-db-down, held batches nak\'d, one promise for every caller', async () => {
    const r = rig({ retryMaxBackoffMs: 60_000 })
    r.write = async () => away()
    const b = ingestBatch(2)
    r.p.accept(b)
    await until('db-down', () => r.p.state === 'db-down' && r.p.inFlight === 0)
    const first = r.p.close(5_000)
    const second = r.p.close(1)
    assert.equal(first, second)
    assert.equal(r.p.state, 'draining-db-down')
    assert.equal(await second, false, 'something was handed back')
    assert.equal(r.p.state, 'closed')
    assert.deepEqual(naks(r.nc), b.replies)
    assert.deepEqual({ ...r.p.grant }, { messages: 0, bytes: 0 })
  })

  it('close() waits for the batch in flight, and a second caller waits for the same end', async () => {
    const r = rig()
    const g = gated()
    r.write = g.write
    r.p.accept(ingestBatch(2))
    const first = r.p.close(10_000)
    assert.equal(r.p.state, 'draining')
    let ended = 0
    const watched = first.then(() => ended++)
    const second = r.p.close(10_000).then((ok) => { ended++; return ok })
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(ended, 0)
    g.open()
    assert.equal(await second, true)
    await watched
    assert.equal(ended, 2)
    assert.equal(sent(r.nc, '+ACK').length, 2)
  })

  it('naks a batch handed in after close', async () => {
    const r = rig()
    await r.p.close(1_000)
    const b = ingestBatch(2)
    r.p.accept(b)
    assert.deepEqual(naks(r.nc), b.replies)
  })

  it('naks a batch whose parser worker failed, with the configured delay', async () => {
    const r = rig()
    r.parse = async () => { throw new Error('worker died') }
    const b = ingestBatch(2)
    r.p.accept(b)
    await until('the naks', () => naks(r.nc).length === 2)
    assert.equal(r.nc.published[0]?.data, '-NAK {"delay":500000000}')
    assert.equal(r.p.state, 'running')
    assert.equal(await r.p.close(1_000), true)
  })

  it('settles and publishes each committed part of a bisected batch as its own transaction', async () => {
    const published: Array<{ rows: number[], commitNo: number }> = []
    const r = rig({
      probeWrite: async () => {},
      maxWriteAttempts: 1,
      onCommitted: (p, commitNo) => { published.push({ rows: [...p.rowMessage], commitNo }) },
    })
    const bad = 5
    // Message 5 fails any transaction it is in (XX000: not a row class, the probe decides).
    r.write = async (part) => part.rowMessage.includes(bad)
      ? { type: 'failed', error: Object.assign(new Error('simulated internal error'), { code: 'XX000' }) }
      : { ...committed(part), rejections: part.rejections }
    r.p.accept(ingestBatch(8))
    await until('7 acks and a term', () => sent(r.nc, '+ACK').length === 7 && sent(r.nc, '+TERM').length === 1)
    assert.ok(published.length > 1, 'more than one part')
    assert.ok(published.every((x, i) => i === 0 || x.commitNo > (published[i - 1] as { commitNo: number }).commitNo), 'each part with its own, ascending, commit number')
    assert.deepEqual(published.flatMap((x) => x.rows).sort(), [0, 1, 2, 3, 4, 6, 7], 'each stored row published once')
    assert.equal(await r.p.close(1_000), true)
  })

  it('fails only its batch on an unexpected exception: nak\'d, the next batch commits', async () => {
    let throws = 1
    const r = rig({ streamKey: () => { if (throws-- > 0) throw new TypeError('simulated bug'); return 'S@1' } })
    r.p.accept(ingestBatch(2, 1))
    r.p.accept(ingestBatch(2, 3))
    await until('nak then ack', () => naks(r.nc).length === 2 && sent(r.nc, '+ACK').length === 2)
    assert.equal(await r.p.close(1_000), true)
  })
})

describe('PipelineStates', () => {
  const events: PipelineEvent[] = ['held', 'committed', 'close', 'drained']
  const table: Record<PipelineState, Array<PipelineState | null>> = {
    running: ['db-down', 'running', 'draining', null],
    'db-down': ['db-down', 'running', 'draining-db-down', null],
    draining: ['draining-db-down', 'draining', null, 'closed'],
    'draining-db-down': ['draining-db-down', 'draining', null, 'closed'],
    closed: [null, 'closed', null, null],
  }
  /** A machine in `state`, reached through possible transitions only. */
  const at = (state: PipelineState, strict: boolean, log = quiet): PipelineStates => {
    const s = new PipelineStates(log, strict)
    const path: Record<PipelineState, PipelineEvent[]> = { running: [], 'db-down': ['held'], draining: ['close'], 'draining-db-down': ['held', 'close'], closed: ['close', 'drained'] }
    for (const e of path[state]) s.on(e)
    assert.equal(s.current, state)
    return s
  }

  it('allows exactly the transitions of its table, and throws on any other when strict', () => {
    for (const [from, row] of Object.entries(table) as Array<[PipelineState, Array<PipelineState | null>]>) {
      events.forEach((event, k) => {
        const s = at(from, true)
        const to = row[k]
        if (to === null) assert.throws(() => s.on(event), /impossible pipeline transition/, `${event} in ${from}`)
        else {
          assert.equal(s.on(event), from)
          assert.equal(s.current, to, `${event} in ${from}`)
        }
      })
    }
  })

  it('logs an impossible transition and stays put when not strict', () => {
    const errors: unknown[] = []
    const log = { ...quiet, error: (o: unknown) => { errors.push(o) } } as unknown as typeof quiet
    const s = at('running', false, log)
    assert.equal(s.on('drained'), 'running')
    assert.equal(s.current, 'running')
    assert.equal(errors.length, 1)
  })
})

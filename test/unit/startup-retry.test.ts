/**
 * Start-up waits (src/startup-retry.ts): what is retried, one warn line per failed attempt, the deadline,
 * an abandoned attempt's late connection handed back for closing. No network: connect() is scripted.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { ErrorCode, ServiceError } from '../../src/errors.js'
import { natsRetryable, pgRetryable, waitForDependency, type Dependency } from '../../src/startup-retry.js'
import { waitFor } from '../helpers/test-env.js'

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
const pgError = (code: string): Error => Object.assign(new Error(`pg ${code}`), { code })

function capture (): { log: pino.Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'info' }, new Writable({ write (chunk, _enc, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done() } }))
  return { log, lines }
}

function dep<T> (connect: () => Promise<T>, extra: Partial<Dependency<T>> = {}): Dependency<T> {
  return { name: 'PostgreSQL', target: 'postgres://db/x', code: ErrorCode.dbUnavailable, retryable: pgRetryable, connect, ...extra }
}

describe('start-up retry', () => {
  it('classifies failures that can heal by waiting', () => {
    assert.ok(pgRetryable(refused) && pgRetryable(new Error('Connection terminated unexpectedly')))
    assert.ok(pgRetryable(pgError('57P03')) && pgRetryable(pgError('08006')) && pgRetryable(pgError('53300')))
    assert.ok(!pgRetryable(pgError('28P01')) && !pgRetryable(pgError('42501')))
    assert.ok(natsRetryable(Object.assign(new Error('connection refused'), { name: 'ConnectionError' })))
    assert.ok(natsRetryable(Object.assign(new Error('getaddrinfo EAI_AGAIN nats'), { code: 'EAI_AGAIN' })))
    assert.ok(!natsRetryable(Object.assign(new Error('Authorization Violation'), { name: 'AuthorizationError' })))
  })

  it('retries with one warn line per failed attempt, then returns the connection', async () => {
    const { log, lines } = capture()
    let calls = 0
    const got = await waitForDependency(dep(async () => { if (++calls < 3) throw refused; return 'conn' }), 30_000, log)
    assert.equal(got, 'conn')
    assert.deepEqual(lines.map((l) => [l.level, l.attempt, l.retry_in_ms]), [[40, 1, 250], [40, 2, 500]])
    assert.equal(lines[0]?.msg, 'PostgreSQL not reachable at postgres://db/x (connect ECONNREFUSED 127.0.0.1:5432): retrying in 250 ms')
  })

  it('gives up after the wait with one permanent error naming the dependency', async () => {
    const { log, lines } = capture()
    const err = await waitForDependency(dep(async () => { throw refused }), 600, log).then(() => undefined, (e: unknown) => e)
    assert.ok(err instanceof ServiceError && !err.transient && err.code === ErrorCode.dbUnavailable)
    assert.match(err.message, new RegExp(`^PostgreSQL not reachable at postgres://db/x after ${lines.length + 1} attempts \\(startup\\.wait_ms\\): connect ECONNREFUSED`))
  })

  it('fails at once on what waiting cannot fix', async () => {
    const { log, lines } = capture()
    await assert.rejects(waitForDependency(dep(async () => { throw pgError('28P01') }), 30_000, log),
      (e: unknown) => e instanceof ServiceError && e.message === 'PostgreSQL at postgres://db/x: pg 28P01')
    assert.equal(lines.length, 0)
  })

  it('abandons a hanging attempt and closes its late connection', async () => {
    const { log } = capture()
    const discarded: string[] = []
    let calls = 0
    let answerLate: (c: string) => void = () => {}
    const connect = (): Promise<string> => ++calls === 1
      ? new Promise((resolve) => { answerLate = resolve })
      : Promise.resolve('second')
    assert.equal(await waitForDependency(dep(connect, { discard: (c) => discarded.push(c), attemptTimeoutMs: 200 }), 60_000, log), 'second')
    assert.equal(calls, 2)
    answerLate('late')
    await waitFor('the late connection to be discarded', () => discarded.length === 1, 10_000)
    assert.deepEqual(discarded, ['late'])
  })
})

/**
 * log.format: pretty (src/log-pretty.ts): one readable line per record, local times, durations in
 * ms/s/min, errors as one line; anything that is not a pino record passes through.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { duration, localTime, prettyDestination, prettyLine } from '../../src/log-pretty.js'

describe('pretty log lines', () => {
  it('formats durations by size', () => {
    assert.equal(duration(0), '0 ms')
    assert.equal(duration(250), '250 ms')
    assert.equal(duration(1500), '1.5 s')
    assert.equal(duration(60_000), '1 min')
    assert.equal(duration(90_000), '90 s')
    assert.equal(duration(600_000), '10 min')
  })

  it('writes local time to the millisecond, level, stage, message and fields', () => {
    const at = new Date(2026, 10, 30, 9, 5, 7, 42).getTime()
    const line = prettyLine(JSON.stringify({ level: 30, time: at, pid: 1, hostname: 'h', service: 'cnc-monitor', stage: 'ingest', msg: 'created durable consumer', stream: 'CNC_DATA', ack_wait_ms: 60_000, backoff_ms: [60_000, 90_000], max_deliver: 50, note: 'two words' }))
    assert.equal(line, '2026-11-30 09:05:07.042 INFO  [ingest] created durable consumer stream=CNC_DATA ack_wait_ms=1 min backoff_ms=[1 min, 90 s] max_deliver=50 note="two words"\n')
    assert.equal(localTime(at), '2026-11-30 09:05:07.042')
  })

  it('keeps an error to one line: type, code, message, first frame', () => {
    const err = { type: 'ServiceError', code: 'DB_UNAVAILABLE', message: 'first line\nsecond line', stack: 'ServiceError: first line\nsecond line\n    at start (/app/dist/service.js:10:5)\n    at main (/app/dist/main.js:3:1)' }
    const line = prettyLine(JSON.stringify({ level: 60, time: 0, msg: 'start-up failed', err }))
    assert.match(line, /FATAL start-up failed err="ServiceError \[DB_UNAVAILABLE\]: first line \(at start \(\/app\/dist\/service\.js:10:5\)\)"\n$/)
    assert.equal(line.split('\n').length, 2)
  })

  it('passes anything else through unchanged', () => {
    assert.equal(prettyLine('not json'), 'not json\n')
  })

  it('is a pino destination', () => {
    const out: string[] = []
    const log = pino({ level: 'info' }, prettyDestination({ write: (s: string) => out.push(s) }))
    log.child({ stage: 'api' }).warn({ port: 8081 }, 'hello')
    assert.equal(out.length, 1)
    assert.match(out[0] ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} WARN {2}\[api\] hello port=8081\n$/)
  })
})

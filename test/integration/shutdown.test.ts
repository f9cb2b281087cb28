import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { json, reading } from '../helpers/payloads.js'
import { createTestEnv, prefill, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url))

function startService (t: TestEnv, extra: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', ...t.env, CNC_LOG_LEVEL: 'warn', ...extra },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
}

// The built service (dist/main.js) as a real process: SIGTERM while batches are being written.
describe('SIGTERM under load', () => {
  let t: TestEnv
  before(async () => { t = await createTestEnv('SHUTDOWN') })
  after(async () => { await t.cleanup() })

  it('exits 0, acks everything it committed, and leaves the rest to the next run', async () => {
    const total = 60_000
    const payloads: string[] = []
    for (let n = 0; n < total; n++) payloads.push(json(reading(`CNC-${n % 6}`, n)))
    await prefill(t, payloads)

    const first = startService(t, { CNC_INGEST_BATCH_SIZE: '2000' })
    await waitFor('some rows committed', async () => {
      const [r] = await t.query<{ n: string }>('SELECT count(*) AS n FROM sensor_data').catch(() => [{ n: '0' }])
      return Number(r?.n) > 0
    }, 30_000, 5)
    first.kill('SIGTERM')
    const [code] = await once(first, 'exit') as [number | null]
    assert.equal(code, 0, 'graceful exit code')

    const [mid] = await t.query<{ n: string }>('SELECT count(*) AS n FROM sensor_data')
    const committedByFirst = Number(mid?.n)
    const ci = await t.consumerInfo()
    assert.equal(ci.num_ack_pending, 0, 'nothing left awaiting ack: committed rows acked, the rest nak\'d')
    assert.ok(committedByFirst < total, 'the first run was stopped mid-load')

    const second = startService(t)
    try {
      await waitSettled(t, 60_000)
    } finally {
      second.kill('SIGTERM')
      await once(second, 'exit')
    }
    const [end] = await t.query<{ rows: string, distinct: string }>('SELECT count(*) AS rows, count(DISTINCT active_program_line) AS distinct FROM sensor_data')
    assert.equal(Number(end?.distinct), total, 'every reading stored')
    assert.equal(Number(end?.rows), total, 'none stored twice')
    const redelivered = (await t.consumerInfo()).num_redelivered
    assert.ok(redelivered <= total - committedByFirst, 'only what the first run had not committed came back')
  })
})

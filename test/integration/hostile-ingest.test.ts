/**
 * Hostile single messages against the real service (in-process: an exception escaping a timer or a
 * NATS callback would end this test process too).
 *  - issue 10: one 800 KB message on an idle stream used to crash the process (`RangeError: Invalid
 *    typed array length` from the linger timer), and again on every redelivery;
 *  - issue 17: lone surrogate escapes in machine_id were stored as U+FFFD, merged with a real U+FFFD id.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { json, reading } from '../helpers/payloads.js'
import { withService } from '../helpers/service.js'
import { createTestEnv, prefill, waitSettled, type TestEnv } from '../helpers/test-env.js'

interface DeadLetterRow { stream_seq: string, reason: string, detail: string, payload: Buffer }

describe('hostile single messages', () => {
  let t: TestEnv
  beforeEach(async () => { t = await createTestEnv('HOSTILE') })
  afterEach(async () => { await t.cleanup() })

  it('dead-letters one 800 KB message as payload_too_large (prefix, length, digest) and keeps ingesting', async () => {
    assert.ok(t.nc.info !== undefined && t.nc.info.max_payload >= 800_000, `the NATS server takes 800 KB payloads (max_payload ${t.nc.info?.max_payload})`)
    const big = Buffer.from(json(reading('BIG', 1, { machine_state: null, firmware_dump: 'x'.repeat(800_000) })))
    await prefill(t, [big])
    await withService(t, { CNC_NATS_ACK_WAIT_MS: '3000', CNC_NATS_BACKOFF_MS: '3000' }, async (service) => {
      await waitSettled(t, 60_000)
      await prefill(t, Array.from({ length: 100 }, (_, n) => json(reading('AFTER', n))))
      await waitSettled(t, 60_000)
      const rows = await t.query<{ n: string }>("SELECT count(*) AS n FROM sensor_data WHERE machine_id = 'AFTER'")
      assert.equal(Number(rows[0]?.n), 100, 'readings after the big message are stored')
      const dead = await t.query<DeadLetterRow>('SELECT stream_seq, reason, detail, payload FROM rejected_messages')
      assert.equal(dead.length, 1)
      assert.equal(dead[0]?.reason, 'payload_too_large')
      assert.equal(dead[0]?.detail, `payload is ${big.length} bytes; the limit (nats.max_payload_bytes) is 65536; sha256 ${createHash('sha256').update(big).digest('hex')}; the dead letter keeps its first 1024 bytes`)
      assert.deepEqual(dead[0]?.payload, big.subarray(0, 1024))
      assert.equal(service.state, 'running')
    })
  })

  it('dead-letters lone surrogate machine ids as invalid_unicode; a real U+FFFD id is stored and served as is', async () => {
    const ts = '"timestamp":"2025-07-13T10:00:00Z","temperature":1,"spindle_speed":2'
    const ids = ['CNC-\\ud800', 'CNC-\\udbff', 'CNC-\\udc00', 'CNC-\\ufffd']
    await prefill(t, ids.map((id) => `{"machine_id":"${id}",${ts}}`))
    await withService(t, {}, async (service) => {
      await waitSettled(t, 60_000)
      const rows = await t.query<{ machine_id: string }>('SELECT machine_id FROM sensor_data')
      assert.deepEqual(rows.map((r) => r.machine_id), ['CNC-\ufffd'], 'only the real U+FFFD id is a row')
      const dead = await t.query<DeadLetterRow>('SELECT stream_seq, reason, detail, payload FROM rejected_messages ORDER BY stream_seq')
      assert.deepEqual(dead.map((d) => [Number(d.stream_seq), d.reason]), [[1, 'invalid_unicode'], [2, 'invalid_unicode'], [3, 'invalid_unicode']])
      assert.deepEqual(dead.map((d) => d.payload.toString('utf8')), ids.slice(0, 3).map((id) => `{"machine_id":"${id}",${ts}}`), 'payload kept byte for byte')
      const r = await fetch(`http://127.0.0.1:${service.httpPort}/api/v1/machines/${encodeURIComponent('CNC-\ufffd')}/latest`)
      assert.equal(r.status, 200)
      assert.equal((await r.json() as { machine_id: string }).machine_id, 'CNC-\ufffd')
    })
  })
})

/**
 * Batched payloads: a message whose payload is a JSON array of readings. Each element is its own row;
 * a bad element is dead-lettered with its index and reason while the others commit, and the message
 * is acked (not terminated) once all its elements are settled. Under both ack policies.
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { json, reading } from '../helpers/payloads.js'
import { withService } from '../helpers/service.js'
import { createTestEnv, prefill, waitSettled, type TestEnv } from '../helpers/test-env.js'

describe('batched payloads (JSON arrays of readings)', () => {
  let t: TestEnv
  beforeEach(async () => { t = await createTestEnv('BATCHED') })
  afterEach(async () => { await t.cleanup() })

  for (const policy of ['all', 'explicit'] as const) {
    it(`stores every element as a row and dead-letters bad elements by index (ack policy ${policy})`, async () => {
      const payloads: string[] = []
      for (let m = 0; m < 50; m++) {
        const elements: unknown[] = Array.from({ length: 100 }, (_, k) => reading(`ARR-${k % 10}`, m * 100 + k))
        if (m === 7) elements[42] = reading('ARR-BAD', 0, { temperature: 'hot' })
        payloads.push(json(elements))
      }
      payloads.push(json(reading('SINGLE', 0)), '[]')
      await prefill(t, payloads)
      await withService(t, { CNC_NATS_ACK_POLICY: policy, CNC_INGEST_BATCH_SIZE: '20' }, async () => {
        await waitSettled(t)
        const [r] = await t.query<{ rows: string, distinct: string }>('SELECT count(*) AS rows, count(DISTINCT (machine_id, active_program_line)) AS distinct FROM sensor_data')
        assert.deepEqual([Number(r?.rows), Number(r?.distinct)], [4_999 + 1, 4_999 + 1])
        const letters = await t.query<{ stream_seq: string, reason: string, detail: string }>('SELECT stream_seq, reason, detail FROM rejected_messages ORDER BY stream_seq')
        assert.deepEqual(letters.map((l) => [Number(l.stream_seq), l.reason, l.detail]), [
          [8, 'schema', 'element 42: temperature: must be number'],
          [52, 'schema', 'message: an array must hold at least one reading'],
        ])
        const ci = await t.consumerInfo()
        assert.equal(ci.num_ack_pending, 0)
        assert.equal(ci.num_redelivered, 0)
        assert.equal(ci.ack_floor.stream_seq, 52)
      })
    })
  }
})

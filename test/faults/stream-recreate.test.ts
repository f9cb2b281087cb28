/**
 * The stream or its durable consumer deleted (and recreated) while the service runs: ingest notices,
 * the ledger follows the new stream, the consumer is recreated from configuration, /readyz says 503
 * meanwhile, and the accounting is exact (rows = published, 0 duplicates, nothing pending).
 */
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { ensureConsumer, ensureStream } from '../../src/ingest/jetstream-setup.js'
import type { Service } from '../../src/service.js'
import { json, reading } from '../helpers/payloads.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, prefill, silentLog, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'
import { FULL } from './harness.js'

interface Ready { status: number, consumer?: string }

describe('stream or consumer recreated under a running service', () => {
  let t: TestEnv
  let service: Service
  beforeEach(async () => {
    t = await createTestEnv('RECREATE')
    service = await startService(t, {
      CNC_INGEST_BATCH_SIZE: '50',
      // Short waits so that nak'd and redelivered messages come back within the test.
      CNC_NATS_ACK_WAIT_MS: '5000',
      CNC_NATS_BACKOFF_MS: '5000',
      CNC_NATS_NAK_DELAY_MS: '200',
    })
  })
  afterEach(async () => {
    await service.close()
    await t.cleanup()
  })

  const ready = async (): Promise<Ready> => {
    const res = await fetch(`http://127.0.0.1:${service.httpPort}/readyz`)
    const body = await res.json() as { checks?: { consumer?: string } }
    return { status: res.status, consumer: body.checks?.consumer }
  }
  const publish = (machine: string, n: number) => prefill(t, Array.from({ length: n }, (_, i) => json(reading(machine, i))))
  const rows = async (machine?: string) => {
    const [r] = await t.query<{ n: string, d: string }>(
      'SELECT count(*) AS n, count(DISTINCT (machine_id, active_program_line)) AS d FROM sensor_data WHERE $1::text IS NULL OR machine_id = $1', [machine ?? null])
    return { rows: Number(r?.n), distinct: Number(r?.d) }
  }
  const settledWith = async (total: number) => {
    await waitFor(`${total} rows`, async () => (await rows()).rows >= total, 60_000, 100)
    await waitSettled(t, 60_000)
    await waitFor('/readyz 200', async () => (await ready()).status === 200, 30_000, 100)
    const r = await rows()
    assert.equal(r.rows, total, 'rows = published')
    assert.equal(r.distinct, total, '0 duplicates')
    const [rej] = await t.query<{ n: string }>('SELECT count(*) AS n FROM rejected_messages')
    assert.equal(Number(rej?.n), 0, 'no dead letters')
  }

  it('stream deleted and recreated with its consumer: the new stream\'s readings are written, not matched against the old ledger', async () => {
    await publish('CNC-OLD', 100)
    await settledWith(100)
    await t.jsm.streams.delete(t.stream)
    await waitFor('/readyz 503 naming the missing stream', async () => {
      const r = await ready()
      return r.status === 503 && r.consumer === 'stream missing'
    }, 30_000, 50)
    // The operator recreates both (as the service would from the same configuration).
    await ensureStream(t.jsm, t.stream, silentLog)
    await ensureConsumer(t.jsm, service.config, silentLog)
    await publish('CNC-NEW', 100)
    await settledWith(200)
    assert.equal((await rows('CNC-NEW')).rows, 100, 'every reading of the new stream stored')
  })

  it('consumer deleted: recreated from configuration after the ack floor, ingest resumes', async () => {
    await publish('CNC-BEFORE', 100)
    await settledWith(100)
    await t.jsm.consumers.delete(t.stream, t.consumer)
    await waitFor('the consumer to be recreated', async () => {
      try {
        await t.consumerInfo()
        return true
      } catch {
        return false
      }
    }, 30_000, 50)
    await publish('CNC-AFTER', 100)
    await settledWith(200)
    const ci = await t.consumerInfo()
    assert.equal(ci.config.opt_start_seq, 101, 'starts after what was already settled')
    const again = (await service.metrics.duplicates.get()).values[0]?.value ?? 0
    assert.equal(again, 0, 'nothing delivered a second time')
  })

  it('stream deleted and left missing: recreated by the service (nats.stream_* limits) after its grace', { skip: FULL ? false : 'FAULTS_FULL=1 (waits out the 10 s grace)' }, async () => {
    await publish('CNC-OLD', 30)
    await settledWith(30)
    await t.jsm.streams.delete(t.stream)
    await waitFor('the service to recreate the stream', async () => {
      try {
        return (await t.jsm.streams.info(t.stream)).config.max_age > 0
      } catch {
        return false
      }
    }, 60_000, 200)
    await publish('CNC-NEW', 30)
    await settledWith(60)
  })
})

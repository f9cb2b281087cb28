/**
 * Fault 5: a poison set in the middle of valid traffic. Each bad message is dead-lettered exactly once
 * with its reason (the stream sequence identifies it), and the valid readings of the same batches
 * commit. One poison is refused by PostgreSQL itself: the test adds a CHECK constraint the validator
 * knows nothing about, so only the database can reject that row.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { jetstream } from '@nats-io/jetstream'
import { FULL, Faults } from './harness.js'
import { SUBJECT, assertAccounting, prefill, validPayload } from './load.js'

const HALF = FULL ? 50_000 : 10_000
const TS = '"timestamp":"2025-07-13T10:00:00Z"'
const BODY = `"machine_id":"P",${TS},"temperature":1,"spindle_speed":2`

const POISON: ReadonlyArray<{ readonly name: string, readonly payload: string | Uint8Array, readonly reason: string }> = [
  { name: 'invalid JSON', payload: `{${BODY},`, reason: 'invalid_json' },
  { name: 'not JSON at all', payload: 'hello', reason: 'invalid_json' },
  { name: 'wrong type', payload: `{"machine_id":"P",${TS},"temperature":"hot","spindle_speed":2}`, reason: 'schema' },
  { name: 'wrong type (machine_id)', payload: `{"machine_id":7,${TS},"temperature":1,"spindle_speed":2}`, reason: 'schema' },
  { name: 'missing field', payload: `{"machine_id":"P",${TS},"temperature":1}`, reason: 'schema' },
  { name: 'fields hidden under __proto__', payload: `{"__proto__":{${BODY}}}`, reason: 'schema' },
  { name: 'fields hidden under constructor.prototype', payload: `{"constructor":{"prototype":{${BODY}}}}`, reason: 'schema' },
  { name: '1 MB string', payload: `{${BODY},"machine_state":"${'x'.repeat(1_000_000)}"}`, reason: 'payload_too_large' },
  { name: 'NUL byte (escaped) in a string', payload: `{${BODY},"machine_state":"RUN\\u0000"}`, reason: 'unstorable_value' },
  { name: 'NUL byte (raw) in a string', payload: `{${BODY},"machine_state":"RUN\u0000"}`, reason: 'invalid_json' },
  { name: 'year 0 (before PostgreSQL\'s calendar)', payload: '{"machine_id":"P","timestamp":"0000-12-31T23:59:59Z","temperature":1,"spindle_speed":2}', reason: 'bad_timestamp' },
  { name: 'year 294277 (past PostgreSQL\'s range)', payload: '{"machine_id":"P","timestamp":"294277-01-01T00:00:00Z","temperature":1,"spindle_speed":2}', reason: 'bad_timestamp' },
  { name: 'BC date', payload: '{"machine_id":"P","timestamp":"-4714-11-24T00:00:00Z","temperature":1,"spindle_speed":2}', reason: 'bad_timestamp' },
  { name: 'invalid UTF-8', payload: Uint8Array.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), reason: 'invalid_utf8' },
  { name: 'value the database refuses (CHECK constraint)', payload: `{${BODY},"machine_state":"REFUSED-BY-DB"}`, reason: 'db_rejected' },
]

/** Valid readings that carry prototype-shaped extra keys: unknown fields are ignored, so they are stored. */
const withKey = (n: number, key: string): string => validPayload(n).replace('{', `{"${key}":{"polluted":true},`)

describe('fault 5: poison in the middle of valid traffic', () => {
  let f: Faults
  before(async () => { f = await Faults.start() })
  after(async () => { await f?.stop() })

  it('dead-letters each bad message once with its reason and commits the valid rows of the same batches', async (t) => {
    // First start creates the schema; the constraint is then added while the service is stopped.
    const first = f.spawnService()
    await first.waitReady()
    first.kill('SIGTERM')
    assert.equal(await first.exit, 0)
    await f.query("ALTER TABLE sensor_data ADD CONSTRAINT faults_refuse CHECK (machine_state IS DISTINCT FROM 'REFUSED-BY-DB')")

    await prefill(f, 0, HALF)
    const js = jetstream(await f.nc())
    const enc = new TextEncoder()
    const expected = new Map<number, string>()
    const names = new Map<number, string>()
    for (const p of POISON) {
      const ack = await js.publish(SUBJECT, typeof p.payload === 'string' ? enc.encode(p.payload) : p.payload)
      expected.set(ack.seq, `${p.name} → ${p.reason}`)
      names.set(ack.seq, p.name)
    }
    let extra = 0
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      await js.publish(SUBJECT, enc.encode(withKey(2 * HALF + extra++, key)))
    }
    await prefill(f, HALF, 2 * HALF)

    const s = f.spawnService({ env: { CNC_INGEST_BATCH_SIZE: '2000' } })
    await s.waitReady()
    const valid = 2 * HALF + extra
    await assertAccounting(f, { valid, published: valid + POISON.length })

    const rows = await f.query<{ stream_seq: string, reason: string, detail: string }>('SELECT stream_seq, reason, detail FROM rejected_messages ORDER BY stream_seq')
    const seen = new Map(rows.map((r) => [Number(r.stream_seq), `${names.get(Number(r.stream_seq)) ?? 'a valid reading'} → ${r.reason}`]))
    assert.deepEqual([...seen.entries()], [...expected.entries()], 'each poison dead-lettered once, with its reason')
    const db = rows.find((r) => r.reason === 'db_rejected')
    assert.match(db?.detail ?? '', /23514/, 'the database\'s SQLSTATE is kept')
    const [proto] = await f.query<{ n: string }>("SELECT count(*) AS n FROM sensor_data WHERE machine_id = 'P'")
    assert.equal(Number(proto?.n), 0, 'no poison became a row')
    t.diagnostic(rows.map((r) => `${r.reason}: ${r.detail.slice(0, 80)}`).join(' | '))
  })
})

/**
 * store/copy-out.ts against PostgreSQL: the bytes handed on are those pg-copy-streams reads for the
 * same COPY (text and binary, rows of many sizes, notices interleaved), and after an error in the
 * COPY, a failing consumer or a statement that is no COPY TO, the connection answers the next query.
 * Read-only statements on the admin database (generate_series; a pg_temp function for notices).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { to as copyTo } from 'pg-copy-streams'
import { CopyOut } from '../../src/store/copy-out.js'
import { PG_ADMIN_URL } from '../helpers/test-env.js'

async function viaStreams (client: pg.Client, sql: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of client.query(copyTo(sql))) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

async function viaCopyOut (client: pg.Client, sql: string): Promise<{ bytes: Buffer, calls: number }> {
  const chunks: Buffer[] = []
  // Each call's bytes are copied: the buffer is the socket's chunk, reused by nothing but not ours to keep.
  await client.query(new CopyOut(sql, (b) => { chunks.push(Buffer.from(b)) })).result
  return { bytes: Buffer.concat(chunks), calls: chunks.length }
}

const stillAnswers = async (client: pg.Client): Promise<void> => {
  assert.equal((await client.query<{ x: number }>('SELECT 41 + 1 AS x')).rows[0]?.x, 42)
}

describe('CopyOut', () => {
  let client: pg.Client

  before(async () => {
    client = new pg.Client({ connectionString: PG_ADMIN_URL })
    await client.connect()
    await client.query(`CREATE FUNCTION pg_temp.noisy (g int) RETURNS int LANGUAGE plpgsql AS
      $$ BEGIN IF g % 1000 = 0 THEN RAISE NOTICE 'row %', g; END IF; RETURN g; END $$`)
  })
  after(async () => {
    await client?.end()
  })

  const cases: ReadonlyArray<readonly [string, string]> = [
    ['text, rows of 1 to 5,000 bytes', "COPY (SELECT g, repeat('é', (g * 7919) % 2500) FROM generate_series(1, 20000) g) TO STDOUT"],
    ['binary, with NULLs', "COPY (SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE g / 7.0 END::float8, timestamptz '2025-07-13 10:00:00Z' + g * interval '1 ms' FROM generate_series(1, 30000) g) TO STDOUT (FORMAT binary)"],
    ['notices between rows', 'COPY (SELECT pg_temp.noisy(g) FROM generate_series(1, 5000) g) TO STDOUT'],
    ['no rows', 'COPY (SELECT 1 WHERE false) TO STDOUT'],
  ]
  for (const [name, sql] of cases) {
    it(`hands on the bytes pg-copy-streams reads: ${name}`, async () => {
      const want = await viaStreams(client, sql)
      const got = await viaCopyOut(client, sql)
      assert.equal(got.bytes.length, want.length)
      assert.ok(got.bytes.equals(want))
      await stillAnswers(client)
    })
  }

  it('an error in the middle of the COPY rejects, and the connection answers the next query', async () => {
    let received = 0
    const copy = client.query(new CopyOut('COPY (SELECT 1 / (g - 15000) FROM generate_series(1, 20000) g) TO STDOUT', (b) => { received += b.length }))
    await assert.rejects(copy.result, /division by zero/)
    assert.ok(received > 0, 'rows before the error were handed on')
    await stillAnswers(client)
  })

  it('a consumer that throws fails the COPY with its error; the rest is read and the connection stays usable', async () => {
    let calls = 0
    const copy = client.query(new CopyOut('COPY (SELECT g FROM generate_series(1, 50000) g) TO STDOUT', () => {
      calls++
      throw new Error('consumer refused')
    }))
    await assert.rejects(copy.result, /consumer refused/)
    assert.equal(calls, 1)
    await stillAnswers(client)
  })

  it('a statement that is no COPY TO rejects with what it was; the connection stays usable', async () => {
    await assert.rejects(client.query(new CopyOut('SELECT 1', () => {})).result, /returns rows, not COPY TO/)
    await stillAnswers(client)
    await assert.rejects(client.query(new CopyOut('COPY nosuchtable TO STDOUT', () => {})).result, /nosuchtable/)
    await stillAnswers(client)
    await assert.rejects(client.query(new CopyOut('COPY (SELECT 1) TO STDOUT; SELECT 2', () => {})).result, /returns rows, not COPY TO/)
    await stillAnswers(client)
  })

  it('a connection lost in the middle of the COPY rejects (no hang)', async () => {
    const victim = new pg.Client({ connectionString: PG_ADMIN_URL })
    await victim.connect()
    victim.on('error', () => {})
    try {
      const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid
      let firstData!: () => void
      const started = new Promise<void>((resolve) => { firstData = resolve })
      const copy = victim.query(new CopyOut('COPY (SELECT g, pg_sleep(0.0005) FROM generate_series(1, 1000000) g) TO STDOUT', () => { firstData() }))
      await started
      await client.query('SELECT pg_terminate_backend($1)', [pid])
      await assert.rejects(copy.result)
    } finally {
      await victim.end().catch(() => {})
    }
  })
})

/**
 * Phase 6: microbenchmarks (tinybench), alternatives side by side so each choice in src/ has a figure:
 *   per message   JSON.parse · + ajv · + text COPY line (the rejected choice) · decodeBatch (binary, ours)
 *   per batch     Piscina hand-off of a 1-message batch (pure overhead) · 5,000-message batch via the pool
 *                 vs in this thread
 *   COPY          5,000 rows binary vs text; binary at 1,000 / 5,000 / 20,000 rows per transaction;
 *                 synchronous_commit off at 5,000 (the service keeps it on)
 */
import { Bench, type Task } from 'tinybench'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import type { RawBatch } from '../../src/contracts.js'
import { COPY_COLUMNS, COPY_HEADER, COPY_TRAILER } from '../../src/parse/copy-encoder.js'
import { decodeBatch } from '../../src/parse/decode-batch.js'
import { validateReading } from '../../src/parse/generated/validate-reading.js'
import { ParserPool } from '../../src/parse/parser-pool.js'
import type { Reading } from '../../src/parse/reading-schema.js'
import { pino } from 'pino'
import { CopyWriter } from '../../src/write/copy-writer.js'
import { detectFeatures } from '../../src/write/db-features.js'
import { migrate } from '../../src/write/migrate.js'
import { adminQuery, dbUrl, uniqueName } from '../lib/env.js'
import { readingPayloads } from '../lib/payloads.js'
import { fmtRate, type Row } from '../lib/report.js'
import { textCopyLine } from '../lib/text-copy.js'

function rawBatch (payloads: readonly Uint8Array[]): RawBatch {
  let total = 0
  for (const p of payloads) total += p.length
  const bytes = new Uint8Array(total)
  const offsets = new Uint32Array(payloads.length + 1)
  let pos = 0
  payloads.forEach((p, i) => { bytes.set(p, pos); pos += p.length; offsets[i + 1] = pos })
  return { bytes, offsets, count: payloads.length, maxPayloadBytes: 65_536 }
}

const fresh = (raw: RawBatch): RawBatch => ({ ...raw, bytes: raw.bytes.slice(), offsets: raw.offsets.slice() })

function meanMs (t: Task): number {
  const r = t.result as { latency?: { mean: number } }
  return r.latency?.mean ?? NaN
}

function copyInto (client: pg.PoolClient | pg.Client, sql: string, chunks: readonly Uint8Array[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = client.query(copyFrom(sql))
    s.on('error', reject)
    s.on('finish', resolve)
    for (const c of chunks) s.write(c)
    s.end()
  })
}

export async function micro (quick: boolean): Promise<{ rows: Row[], json: unknown[] }> {
  const rows: Row[] = []
  const json: unknown[] = []
  const opts = { time: quick ? 100 : 1000, iterations: quick ? 3 : 10, warmupIterations: quick ? 1 : 3 }
  const N = 5000
  const payloads = readingPayloads(20_000, 'MICRO')
  const raw5k = rawBatch(payloads.slice(0, N))
  const dec = new TextDecoder()
  const strings = payloads.slice(0, N).map((p) => dec.decode(p))

  // Per message.
  const perMsg = new Bench({ name: 'per message', ...opts })
  perMsg.add('JSON.parse', () => { for (const s of strings) JSON.parse(s) })
  perMsg.add('JSON.parse + ajv', () => { for (const s of strings) validateReading(JSON.parse(s)) })
  perMsg.add('JSON.parse + ajv + text COPY line', () => {
    let out = ''
    for (const s of strings) { const v = JSON.parse(s) as unknown; if (validateReading(v)) out += textCopyLine(v as Reading) }
    Buffer.from(out)
  })
  perMsg.add('decodeBatch: UTF-8 check + JSON.parse + ajv + RFC 3339 + binary COPY (ours)', () => { decodeBatch(raw5k) })
  await perMsg.run()
  for (const t of perMsg.tasks) {
    const us = meanMs(t) * 1000 / N
    rows.push({ phase: '6 micro', case: t.name, figure: 'µs per message (batch of 5,000)', value: us.toFixed(2), check: `${fmtRate(1e6 / us)} msg/s on one core` })
    json.push({ bench: 'per-message', task: t.name, usPerMessage: us })
  }

  // Pool hand-off.
  const pool = new ParserPool(1, 4)
  const raw1 = rawBatch(payloads.slice(0, 1))
  const hand = new Bench({ name: 'pool', ...opts })
  hand.add('Piscina round trip, 1-message batch (hand-off overhead)', async () => { await pool.parse(fresh(raw1)) })
  hand.add('5,000-message batch via the pool (1 worker)', async () => { await pool.parse(fresh(raw5k)) })
  hand.add('5,000-message batch in this thread', () => { decodeBatch(fresh(raw5k)) })
  await hand.run()
  await pool.close()
  for (const t of hand.tasks) {
    rows.push({ phase: '6 micro', case: t.name, figure: 'ms per batch', value: meanMs(t).toFixed(3), check: '' })
    json.push({ bench: 'pool', task: t.name, msPerBatch: meanMs(t) })
  }
  const h = hand.tasks.map(meanMs)
  const lastHand = rows[rows.length - 1] as Row
  rows[rows.length - 1] = { ...lastHand, check: `pool − in-thread = ${((h[1] as number) - (h[2] as number)).toFixed(3)} ms per batch` }

  // COPY into a private database with the service's schema (table + (machine_id, time DESC) index).
  const database = uniqueName('cnc_perf_micro').toLowerCase()
  await adminQuery(`CREATE DATABASE "${database}"`)
  const client = new pg.Client({ connectionString: dbUrl(database) })
  try {
    await client.connect()
    await migrate(client, await detectFeatures(client, pino({ level: 'silent' })), pino({ level: 'silent' }))
    const writerPool = new pg.Pool({ connectionString: dbUrl(database), max: 1 })
    const writer = new CopyWriter(writerPool, 1)
    const parsed5k = decodeBatch(fresh(raw5k))
    let seqBase = 0
    const writeBatch = async (): Promise<void> => {
      const seqs = new Float64Array(N)
      for (let i = 0; i < N; i++) seqs[i] = seqBase + i + 1
      seqBase += N
      const r = await writer.write(parsed5k, { streamKey: 'MICRO@0', streamSeq: seqs, deadLetterFor: () => { throw new Error('no dead letters here') } })
      if (r.type !== 'committed') throw r.error
    }
    const parsed = decodeBatch(rawBatch(payloads))
    const binRows = (n: number): Uint8Array => parsed.copy.subarray(0, parsed.rowEnds[n - 1] as number)
    const text5k = Buffer.from(strings.map((s) => textCopyLine(JSON.parse(s) as Reading)).join(''))
    const cols = COPY_COLUMNS.join(', ')
    const binSql = `COPY sensor_data (${cols}) FROM STDIN (FORMAT binary)`
    const textSql = `COPY sensor_data (${cols}) FROM STDIN`
    const tx = async (sql: string, chunks: Uint8Array[], syncOff = false): Promise<void> => {
      await client.query('BEGIN')
      if (syncOff) await client.query('SET LOCAL synchronous_commit = off')
      await copyInto(client, sql, chunks)
      await client.query('COMMIT')
    }
    const truncate = async (): Promise<void> => { await client.query('TRUNCATE sensor_data') }
    const copy = new Bench({ name: 'copy', ...opts })
    const cases: Array<[string, number, () => Promise<void>]> = [
      ['COPY 5,000 rows, text format, 1 tx', N, () => tx(textSql, [text5k])],
      ['COPY 5,000 rows, binary format, 1 tx (ours)', N, () => tx(binSql, [COPY_HEADER, binRows(N), COPY_TRAILER])],
      ['CopyWriter.write, 5,000 rows (COPY + ledger + COMMIT, the service\'s path)', N, writeBatch],
      ['COPY 1,000 rows, binary, 1 tx', 1000, () => tx(binSql, [COPY_HEADER, binRows(1000), COPY_TRAILER])],
      ['COPY 20,000 rows, binary, 1 tx', 20_000, () => tx(binSql, [COPY_HEADER, binRows(20_000), COPY_TRAILER])],
      ['COPY 5,000 rows, binary, synchronous_commit off', N, () => tx(binSql, [COPY_HEADER, binRows(N), COPY_TRAILER], true)],
    ]
    for (const [name, , fn] of cases) copy.add(name, fn, { beforeEach: truncate })
    await copy.run()
    copy.tasks.forEach((t, i) => {
      const n = (cases[i] as [string, number, unknown])[1]
      const ms = meanMs(t)
      rows.push({ phase: '6 micro', case: t.name, figure: 'rows/s (BEGIN·COPY·COMMIT, indexed table)', value: fmtRate(n / (ms / 1000)), check: `${ms.toFixed(1)} ms per transaction` })
      json.push({ bench: 'copy', task: t.name, rows: n, msPerTx: ms, rowsPerSec: n / (ms / 1000) })
    })
    await writerPool.end()
  } finally {
    await client.end().catch(() => {})
    await adminQuery(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
  }
  return { rows, json }
}

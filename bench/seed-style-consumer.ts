/**
 * The original design's consumer, rebuilt for a side-by-side baseline: a durable pull consumer with the
 * server's defaults (explicit ack, max_ack_pending 1,000), fetch 10 at a time (5 s max wait), and per
 * message: JSON.parse, one parameterized INSERT (autocommit), one ack. Nothing batched, nothing overlapped.
 *
 * Run alone:  tsx bench/seed-style-consumer.ts <stream> <count> [database-url]
 * (creates the consumer SEED_STYLE and the schema of sql/001_core_tables.sql if missing).
 */
import { readFileSync } from 'node:fs'
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import pg from 'pg'
import type { Reading as SeedData } from '../src/parse/reading-schema.js'

const INSERT = 'INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, x_pos_mm, y_pos_mm, z_pos_mm, feed_rate_actual, spindle_load_percent, machine_state, active_program_line, total_power_kw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)'

export interface SeedStyleOptions {
  readonly natsUrl: string
  readonly stream: string
  readonly consumer: string
  readonly databaseUrl: string
  /** Stop after this many messages (the stream may hold more). */
  readonly count: number
}

/** Applies the core schema (the same table and index the service writes to). */
export async function applySchema (databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query(readFileSync(new URL('../sql/001_core_tables.sql', import.meta.url), 'utf8'))
  } finally {
    await client.end()
  }
}

/** Consumes `count` messages the seed's way; returns msg/s from the first fetch to the last ack flushed. */
export async function runSeedStyle (o: SeedStyleOptions): Promise<{ messages: number, seconds: number, perSec: number }> {
  const nc = await connect({ servers: o.natsUrl, noAsyncTraces: true, name: 'seed-style-consumer' })
  const db = new pg.Client({ connectionString: o.databaseUrl })
  await db.connect()
  try {
    const jsm = await jetstreamManager(nc)
    await jsm.consumers.add(o.stream, { durable_name: o.consumer, ack_policy: AckPolicy.Explicit })
    const consumer = await jetstream(nc).consumers.get(o.stream, o.consumer)
    let done = 0
    const t0 = performance.now()
    while (done < o.count) {
      const batch = await consumer.fetch({ max_messages: Math.min(10, o.count - done), expires: 5_000 })
      for await (const m of batch) {
        let data: SeedData
        try {
          data = m.json<SeedData>()
        } catch {
          m.term()
          continue
        }
        try {
          await db.query(INSERT, [data.timestamp, data.machine_id, data.temperature, data.spindle_speed, data.x_pos_mm ?? null, data.y_pos_mm ?? null, data.z_pos_mm ?? null,
            data.feed_rate_actual ?? null, data.spindle_load_percent ?? null, data.machine_state ?? null, data.active_program_line ?? null, data.total_power_kw ?? null])
          m.ack()
        } catch {
          m.nak(1000)
        }
        done++
      }
    }
    await nc.flush()
    const seconds = (performance.now() - t0) / 1000
    return { messages: done, seconds, perSec: done / seconds }
  } finally {
    await db.end()
    await nc.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [stream, count, url] = process.argv.slice(2)
  if (stream === undefined || count === undefined) {
    process.stderr.write('usage: tsx bench/seed-style-consumer.ts <stream> <count> [database-url]\n')
    process.exit(2)
  }
  const databaseUrl = url ?? 'postgres://root@127.0.0.1:5432/cnc_seed_style'
  await applySchema(databaseUrl)
  const r = await runSeedStyle({ natsUrl: process.env.CNC_NATS_URL ?? 'nats://127.0.0.1:4222', stream, consumer: 'SEED_STYLE', databaseUrl, count: Number(count) })
  console.log(`seed-style consumer: ${r.messages} messages in ${r.seconds.toFixed(2)} s = ${Math.round(r.perSec)} msg/s (fetch 10, INSERT + ack per message)`)
}

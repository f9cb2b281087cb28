/**
 * The live-feed resume's SQL on TimescaleDB (PGlite): sql/004_live_commits.sql applied to a
 * hypertable that already has compressed chunks (an existing deployment upgrading), the writer's
 * commit-number statement (ledger.ts), and the replay queries (live-replay.ts) over rows both
 * uncompressed and compressed. PGlite cannot COPY: rows are INSERTed, which takes the same default.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { replayChunk, resumeHead } from '../../src/api/live-replay.js'
import { detectFeatures, type DbFeatures } from '../../src/write/db-features.js'
import { recordCommit, recordCommittedReadFloor } from '../../src/write/ledger.js'
import { migrate } from '../../src/write/migrate.js'
import { silentLog } from '../helpers/test-env.js'
import { openTimescalePglite, type PgliteClient } from './pglite-client.js'

const T0 = Date.UTC(2025, 6, 13, 10)
const insert = (machine: string, second: number, line: number): string =>
  `INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, active_program_line)
   VALUES (timestamptz '2025-07-13 10:00:00+00' + make_interval(secs => ${second}), '${machine}', 40.5, 1200, ${line})`

describe('live commits on TimescaleDB (PGlite)', () => {
  let db: PgliteClient
  let features: DbFeatures
  before(async () => {
    db = await openTimescalePglite()
    features = await detectFeatures(db, silentLog)
    await migrate(db, features, silentLog)
  })
  after(async () => { await db?.close() })

  it('applies to a hypertable with compressed chunks, without touching their rows', async () => {
    // Back to the schema before 004, then history, compressed.
    await db.query(`DROP INDEX sensor_data_live_tx_brin; ALTER TABLE sensor_data DROP COLUMN live_tx;
      DROP TABLE live_commits; DROP SEQUENCE live_commit_seq; DELETE FROM schema_migrations WHERE version = '004_live_commits'`)
    for (let i = 0; i < 100; i++) await db.query(insert('OLD-1', -86_400 * 3 + i, i))
    await db.query("SELECT compress_chunk(c) FROM show_chunks('sensor_data') AS c")
    assert.deepEqual(await migrate(db, features, silentLog), ['004_live_commits'])
    const old = await db.query<{ n: string, tagged: string }>("SELECT count(*) AS n, count(live_tx) AS tagged FROM sensor_data WHERE machine_id = 'OLD-1'")
    assert.deepEqual(old.rows[0], { n: 100, tagged: 0 }, 'history kept, untagged (not in the feed)')
    const compressed = await db.query<{ n: string }>("SELECT count(*) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'sensor_data' AND is_compressed")
    assert.ok(Number(compressed.rows[0]?.n) > 0)
  })

  it('tags a writer transaction\'s rows and replays them in commit and machine order, compressed or not', async () => {
    const commits: number[] = []
    for (let k = 0; k < 3; k++) {
      await db.query('BEGIN')
      // Machines out of id order inside a commit: the replay sends them in id order.
      for (const [i, m] of ['M-B', 'M-A', 'M-C'].entries()) await db.query(insert(m, k * 10 + i, k * 10 + i))
      const span = { minMs: T0 + k * 10_000, maxMs: T0 + (k * 10 + 2) * 1_000 }
      commits.push(k === 1
        ? (await recordCommittedReadFloor(db, 'S@1', [[k * 3 + 1, k * 3 + 3]], 0, span)).commitNo
        : await recordCommit(db, 'S@1', [[k * 3 + 1, k * 3 + 3]], span))
      await db.query('COMMIT')
    }
    assert.ok(commits[0] as number < (commits[1] as number) && (commits[1] as number) < (commits[2] as number), `increasing: ${commits.join(', ')}`)
    const head = await resumeHead(db, commits[0] as number, 3_600)
    assert.deepEqual(head, { ok: true, head: commits[2] })

    const lines = async (): Promise<string[]> => {
      // From the middle of the first commit (after M-A), for M-A and M-B only.
      const chunk = await replayChunk(db, { commitNo: commits[0] as number, machine: 'M-A' }, commits[2] as number, ['M-A', 'M-B'], 32)
      assert.equal(chunk.next, null)
      return chunk.frames.map((f) => `${f.commitNo - (commits[0] as number)}:${f.machine}:` +
        f.readings.map((r) => (JSON.parse(r) as { active_program_line: number }).active_program_line).join(','))
    }
    const expected = ['0:M-B:0', '1:M-A:11', '1:M-B:10', '2:M-A:21', '2:M-B:20']
    assert.deepEqual(await lines(), expected)
    const frame = (await replayChunk(db, { commitNo: commits[1] as number, machine: null }, commits[2] as number, null, 32)).frames
    assert.equal(frame.length, 1, '"*": one frame per commit')
    // The data API's Reading, field order included.
    assert.equal(frame[0]?.readings[0], '{"machine_id":"M-B","timestamp":"2025-07-13T10:00:20.000000Z","temperature":40.5,"spindle_speed":1200,' +
      '"x_pos_mm":null,"y_pos_mm":null,"z_pos_mm":null,"feed_rate_actual":null,"spindle_load_percent":null,"machine_state":null,' +
      '"active_program_line":20,"total_power_kw":null}')

    await db.query("SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('sensor_data') AS c")
    assert.deepEqual(await lines(), expected, 'the same from compressed chunks')

    // The replay reads only chunks its commits' rows can be in: not the compressed history 3 days back.
    const plans: string[] = []
    const explaining = {
      async query<R extends object> (text: string, params?: unknown[]) {
        if (!text.trimStart().startsWith('SELECT s.live_tx')) return await db.query<R>(text, params)
        const plan = await db.query<{ 'QUERY PLAN': string }>('EXPLAIN ' + text, params)
        plans.push(plan.rows.map((r) => r['QUERY PLAN']).join('\n'))
        return { rows: [], rowCount: 0 }
      },
    }
    await replayChunk(explaining, { commitNo: commits[0] as number, machine: null }, commits[2] as number, null, 32)
    const oldChunks = (await db.query<{ c: string }>("SELECT c::text AS c FROM show_chunks('sensor_data', older_than => timestamptz '2025-07-12') AS c")).rows.map((r) => r.c)
    const oldCompressed = (await db.query<{ c: string }>(`SELECT compressed_chunk_name AS c FROM _timescaledb_catalog.chunk ch
      JOIN LATERAL (SELECT table_name AS compressed_chunk_name FROM _timescaledb_catalog.chunk WHERE id = ch.compressed_chunk_id) cc ON true
      WHERE format('%I.%I', ch.schema_name, ch.table_name) = ANY($1::text[])`, [oldChunks])).rows.map((r) => r.c)
    assert.equal(plans.length, 1)
    assert.ok(oldChunks.length > 0 && oldCompressed.length > 0, `old chunks ${oldChunks.join(', ')} compressed as ${oldCompressed.join(', ')}`)
    for (const name of [...oldChunks.map((c) => c.split('.').pop() as string), ...oldCompressed]) {
      assert.ok(!(plans[0] as string).includes(name), `${name} not read:\n${plans[0]}`)
    }

    await db.query("UPDATE live_commits SET committed_at = now() - interval '2 hours' WHERE commit_no = $1", [commits[0]])
    assert.deepEqual(await resumeHead(db, commits[0] as number, 3_600), { ok: false }, 'older than the limit')
    assert.deepEqual(await resumeHead(db, 999_999, 3_600), { ok: false }, 'unknown here')
  })
})

/**
 * Issue 14's proof of the field descriptor: in a scratch copy of the tree, append one field to
 * READING_FIELDS (src/reading-fields.ts) and add its migration (a new sql/ file: migrations are
 * history, never derived), touch nothing else, `npm run build`, start the built service, and follow
 * a reading that carries the field: publish → row → /data → /latest → live feed → buckets →
 * /fleet/latest → OpenAPI; a wrong-typed value is dead-lettered by the regenerated validator.
 *
 * Not covered here (plain PostgreSQL): on TimescaleDB Community an aggregatable field also needs a
 * migration that recreates the continuous aggregate sensor_data_1m with its columns (README,
 * "Adding a reading field").
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { ApiClient } from '../helpers/api-client.js'
import { emptyConfigFile, MainProc } from '../helpers/main-proc.js'
import { json, reading } from '../helpers/payloads.js'
import { createTestEnv, prefill, waitFor, type TestEnv } from '../helpers/test-env.js'
import { WsClient, type WsMessage } from '../helpers/ws-client.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const FIELD = 'coolant_temp_c'
const SPEC = `{ name: '${FIELD}', sql: 'float8', required: false, aggregatable: true },`
const MIGRATION = `ALTER TABLE sensor_data ADD COLUMN IF NOT EXISTS ${FIELD} DOUBLE PRECISION;\n`
const M = 'FIELD-A'
/** Two readings at one instant that differ only in the new field: paging inside the group keys on it. */
const G = 'FIELD-G'
const WINDOW = 'start_time=2025-07-13T09:00:00Z&end_time=2025-07-13T11:00:00Z'

/** A copy of what `npm run build` reads, with the new field and its migration; node_modules shared. */
function buildScratch (dir: string): void {
  for (const p of ['src', 'sql', 'package.json', 'tsconfig.json']) cpSync(join(ROOT, p), join(dir, p), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  const file = join(dir, 'src/reading-fields.ts')
  const before = readFileSync(file, 'utf8')
  const after = before.replace(/\n\] as const satisfies readonly FieldSpec\[\]/, `\n  ${SPEC}$&`)
  assert.notEqual(after, before, 'READING_FIELDS ends with "] as const satisfies readonly FieldSpec[]"')
  writeFileSync(file, after)
  writeFileSync(join(dir, 'sql', `999_add_${FIELD}.sql`), MIGRATION)
  try {
    execFileSync('npm', ['run', 'build'], { cwd: dir, stdio: 'pipe', timeout: 240_000 })
  } catch (err) {
    const e = err as { stdout?: Buffer, stderr?: Buffer }
    throw new Error(`npm run build failed in ${dir}:\n${String(e.stdout ?? '')}${String(e.stderr ?? '')}`.slice(0, 4_000), { cause: err })
  }
}

describe('a field added to the descriptor only', () => {
  let t: TestEnv
  let dir: string
  let proc: MainProc
  let c: ApiClient
  let port: number

  before(async () => {
    t = await createTestEnv('FIELD')
    dir = mkdtempSync(join(tmpdir(), 'cnc-add-field-'))
    buildScratch(dir)
    proc = new MainProc(['--config', emptyConfigFile()], { ...t.env, CNC_INGEST_LINGER_MS: '10', CNC_LIVE_MAX_PER_MACHINE_PER_SECOND: '0' }, [], { root: dir, file: 'dist/main.js' })
    port = await proc.waitReady()
    c = new ApiClient(`http://127.0.0.1:${port}`)
  })
  after(async () => {
    if (proc !== undefined) { proc.kill('SIGTERM'); await proc.exit }
    await t?.cleanup()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('travels publish → row → /data → /latest → live feed, buckets, fleet and OpenAPI', async () => {
    const ws = await WsClient.connect(port, '/api/v1/live')
    try {
      ws.send({ subscribe: [M] })
      await ws.next((m: WsMessage) => m.type === 'subscribed')
      await prefill(t, [
        json(reading(M, 1)),
        json(reading(M, 2, { [FIELD]: 18.5 })),
        json(reading(M, 3, { [FIELD]: 'cold' })),
        json(reading(G, 1, { [FIELD]: 2 })),
        json(reading(G, 1, { [FIELD]: 1 })),
      ])

      let rows: Array<Record<string, unknown>> = []
      await waitFor('both readings as rows', async () => {
        rows = await t.query(`SELECT ${FIELD} AS v FROM sensor_data WHERE machine_id = $1 ORDER BY time`, [M])
        return rows.length === 2
      }, 60_000)
      assert.deepEqual(rows.map((r) => r.v), [null, 18.5])
      await waitFor('the wrong-typed value dead-lettered', async () =>
        (await t.query("SELECT 1 FROM rejected_messages WHERE reason = 'schema' AND detail LIKE $1", [`%${FIELD}%`])).length === 1, 30_000)

      const page = (await c.get(`/api/v1/machines/${M}/data?${WINDOW}`)).json<Array<Record<string, unknown>>>()
      assert.deepEqual(page.map((r) => r[FIELD]), [null, 18.5])
      assert.equal(Object.keys(page[1] ?? {}).at(-1), FIELD, 'serialized after the existing fields')
      const latest = (await c.get(`/api/v1/machines/${M}/latest`)).json()
      assert.deepEqual(latest, page[1])

      await waitFor('both readings on the live feed', () => ws.messages.filter((m) => m.type === 'readings').flatMap((m) => m.data as unknown[]).length >= 2, 30_000)
      assert.equal(JSON.stringify(ws.readings()), JSON.stringify(page), 'the live feed sends what /data returns, byte for byte')

      const avg = (await c.get(`/api/v1/machines/${M}/data?${WINDOW}&bucket=2h&agg=avg`)).json<{ data: Array<Record<string, unknown>> }>()
      assert.equal(avg.data[0]?.[FIELD], 18.5)
      const last = (await c.get(`/api/v1/machines/${M}/data?${WINDOW}&bucket=2h&agg=last`)).json<{ data: Array<Record<string, unknown>> }>()
      assert.equal(last.data[0]?.[FIELD], 18.5)

      await waitFor('the group rows', async () => (await t.query('SELECT 1 FROM sensor_data WHERE machine_id = $1', [G])).length === 2, 30_000)
      type Env = { next_cursor: string | null, data: Array<Record<string, unknown>> }
      const first = (await c.get(`/api/v2/machines/${G}/data?${WINDOW}&limit=1`)).json<Env>()
      assert.notEqual(first.next_cursor, null)
      const second = await c.get(`/api/v2/machines/${G}/data?cursor=${first.next_cursor ?? ''}&limit=1`)
      assert.equal(second.status, 200, second.text)
      assert.deepEqual([...first.data, ...second.json<Env>().data].map((r) => r[FIELD]), [1, 2], 'the group is ordered by every field, the new one included')

      const fleet = (await c.get('/api/v1/fleet/latest')).json<{ data: Array<Record<string, unknown>> }>()
      assert.equal(fleet.data.find((r) => r.machine_id === M)?.[FIELD], 18.5)

      const doc = (await c.get('/openapi.json')).json<{ components: { schemas: Record<string, { properties: Record<string, unknown>, required: string[] }> } }>()
      assert.deepEqual(doc.components.schemas.Reading?.properties[FIELD], { type: ['number', 'null'] })
      assert.ok(doc.components.schemas.Reading?.required.includes(FIELD))
    } finally {
      ws.close()
    }
  })
})

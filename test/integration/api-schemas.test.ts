/**
 * What users receive matches what the OpenAPI document promises: readings published through
 * JetStream and committed by the service (plus a registered machine, a dead letter and an alarm
 * episode), then every GET operation of the document called once with data present, and each 2xx
 * body validated with ajv against the schema the document declares for that route and status.
 * Objects are validated closed (additionalProperties: false where the document lists properties
 * and says nothing else), so a field served but not documented fails here too.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { openApiDocument } from '../../src/api/openapi.js'
import type { Service } from '../../src/service.js'
import { ApiClient, assertNo5xx } from '../helpers/api-client.js'
import { PLANT_ENV } from '../helpers/plant-fixture.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, prefill, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'

const T0 = Date.UTC(2025, 5, 2, 9)
const iso = (s: number): string => new Date(T0 + s * 1000).toISOString()
const WINDOW = `start_time=${iso(-60)}&end_time=${iso(120)}`
/** S-1 breaches temperature > 85 from s = 20 to 39 (an episode of rule "hot"), S-2 never. */
function readings (): string[] {
  const out: string[] = []
  for (let s = 0; s < 60; s++) {
    const hot = s >= 20 && s < 40
    out.push(JSON.stringify({
      machine_id: 'S-1',
      timestamp: iso(s),
      temperature: hot ? 90 : 70,
      spindle_speed: 1000 + s,
      // Every nullable field both null and not, so both branches of its schema are served.
      x_pos_mm: s % 2 === 0 ? s : null,
      y_pos_mm: 1.5,
      z_pos_mm: null,
      feed_rate_actual: 500,
      spindle_load_percent: s % 3 === 0 ? null : 40,
      machine_state: s % 10 === 9 ? null : s < 30 ? 'RUNNING' : 'IDLE',
      active_program_line: s % 4 === 0 ? null : s,
      total_power_kw: 7.25,
    }))
    out.push(JSON.stringify({ machine_id: 'S-2', timestamp: iso(s), temperature: 60, spindle_speed: 900 }))
  }
  out.push('{"machine_id": "S-1", "temperature": ')
  return out
}

type Json = Record<string, unknown>
interface Operation { parameters?: Array<{ name: string }>, responses: Record<string, { content?: Record<string, { schema: unknown }> }> }
const doc = openApiDocument as unknown as { paths: Record<string, Record<string, Operation>>, components: { schemas: Record<string, unknown> } }

/** A copy of a schema with every object that lists its properties (and says nothing else) closed. */
function closed (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed)
  if (typeof schema !== 'object' || schema === null) return schema
  const out: Json = {}
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([p, s]) => [p, closed(s)])) : closed(v)
  if ('properties' in out && !('additionalProperties' in out)) out.additionalProperties = false
  return out
}

function validator () {
  const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true })
  ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/)
  ajv.addFormat('date', /^\d{4}-\d\d-\d\d$/)
  const schemas = rebase(closed(doc.components.schemas)) as Json
  return (schema: unknown) => ajv.compile({
    ...(closed(schema) as Json),
    $defs: schemas,
  } as Json)
}

/** '#/components/schemas/X' → '#/$defs/X' (the component schemas are put under $defs of each root). */
const rebase = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema).replaceAll('#/components/schemas/', '#/$defs/'))

describe('2xx bodies match their OpenAPI schemas', () => {
  let t: TestEnv
  let service: Service
  let c: ApiClient

  before(async () => {
    t = await createTestEnv('SCHEMAS')
    service = await startService(t, {
      ...PLANT_ENV,
      CNC_INGEST_LINGER_MS: '5',
      CNC_ALARMS_RULES: JSON.stringify([{ name: 'hot', field: 'temperature', comparison: '>', threshold: 85, min_duration_seconds: 5, clear_hysteresis: 5, severity: 'critical' }]),
      CNC_ALARMS_INTERVAL_MS: '200',
      CNC_ALARMS_LATE_MARGIN_MS: '300',
    })
    c = new ApiClient(`http://127.0.0.1:${service.httpPort}`)
    const created = await c.post('/api/v1/machines', { id: 'S-1', name: 'Mill 1', location: 'Hall A', controller_type: 'Fanuc', max_spindle_speed_rpm: 12000, axis_count: 5 })
    assert.equal(created.status, 201, created.text)
    await c.post('/api/v1/machines', { id: 'S-2', name: 'Lathe 2', location: 'Hall B' })
    await prefill(t, readings())
    await waitSettled(t)
    await waitFor('the alarm episode to be stored and ended', async () =>
      (await t.query<{ n: string }>('SELECT count(*) AS n FROM alarms WHERE ended_at IS NOT NULL'))[0]?.n === '1', 30_000, 100)
  })
  after(async () => {
    assertNo5xx(c)
    c?.assertDocumented()
    await service?.close()
    await t?.cleanup()
  })

  it('every GET operation answers 2xx with a body its schema accepts', async (tc) => {
    const rejectedId = (await t.query<{ id: string }>('SELECT id FROM rejected_messages ORDER BY id LIMIT 1'))[0]?.id
    assert.ok(rejectedId !== undefined, 'a dead letter exists')
    /** The URLs that exercise each GET operation (two for /data: readings and buckets). */
    const urls = (tpl: string, op: Operation): string[] => {
      const id = tpl.startsWith('/api/v1/rejected/') ? rejectedId : 'S-1'
      const path = tpl.replace('{id}', id)
      const names = new Set((op.parameters ?? []).map((p) => p.name))
      if (names.has('bucket')) return [`${path}?${WINDOW}&limit=10`, `${path}?${WINDOW}&bucket=10s&agg=last`]
      if (names.has('group')) return [`${path}?${WINDOW}`, `${path}?${WINDOW}&group=day`]
      if (names.has('start_time') && !names.has('active')) return [`${path}?${WINDOW}`]
      return [path]
    }
    const compile = validator()
    let checked = 0
    for (const [tpl, item] of Object.entries(doc.paths)) {
      const op = item.get
      if (op === undefined) continue
      for (const url of urls(tpl, op)) {
        const r = await c.get(url)
        assert.ok(r.status >= 200 && r.status < 300, `GET ${url} → ${r.status} ${r.text.slice(0, 300)}`)
        const content = op.responses[String(r.status)]?.content
        assert.ok(content !== undefined, `GET ${tpl} documents the content of ${r.status}`)
        const type = (r.headers.get('content-type') ?? '').split(';')[0] ?? ''
        const media = content[type]
        assert.ok(media !== undefined, `GET ${tpl} ${r.status}: content type ${type} is documented (${Object.keys(content).join(', ')})`)
        const body: unknown = type === 'application/json' ? r.json() : r.text
        const validate = compile(rebase(media.schema))
        assert.ok(validate(body), `GET ${url}: ${JSON.stringify(validate.errors?.slice(0, 5), null, 1)}\nbody: ${r.text.slice(0, 600)}`)
        if (Array.isArray(body)) assert.ok(body.length > 0, `GET ${url} answers with data`)
        const data = (body as { data?: unknown })?.data
        if (Array.isArray(data)) assert.ok(data.length > 0, `GET ${url} answers with data`)
        checked++
        tc.diagnostic(`${r.status} GET ${url}`)
      }
    }
    assert.ok(checked >= 19, `${checked} answers checked`)
  })

  it('the closed schemas refuse a field the document does not list, and a null where none is allowed', async () => {
    const validate = validator()(rebase({ $ref: '#/components/schemas/Reading' }))
    const latest = (await c.get('/api/v1/machines/S-1/latest')).json()
    assert.ok(validate(latest), JSON.stringify(validate.errors))
    assert.ok(!validate({ ...latest, undocumented: 1 }))
    assert.ok(!validate({ ...latest, temperature: null }))
  })
})

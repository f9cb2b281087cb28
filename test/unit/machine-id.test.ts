/**
 * One machine-id rule (src/machine-id.ts): the check, the compiled reading validator, the config
 * schema and the OpenAPI parameters agree on the same bounds.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MACHINE_ID_MAX_LENGTH, MACHINE_ID_PATTERN, MACHINE_ID_SCHEMA, isMachineId } from '../../src/machine-id.js'
import { validateReading } from '../../src/parse/generated/validate-reading.js'
import { readingSchema } from '../../src/parse/reading-schema.js'
import { openApiDocument } from '../../src/api/openapi.js'

const reading = (machineId: string) => ({ machine_id: machineId, timestamp: '2025-07-13T10:00:00Z', temperature: 1, spindle_speed: 2 })
const longest = 'M'.repeat(MACHINE_ID_MAX_LENGTH)

describe('machine id', () => {
  it('is 1–128 UTF-16 units without NUL', () => {
    for (const ok of ['a', longest, 'CNC-001', 'Fräse 3', '机床', '🛠'.repeat(MACHINE_ID_MAX_LENGTH / 2)]) assert.ok(isMachineId(ok), ok)
    for (const bad of ['', longest + 'M', 'a\u0000b', 42, null, undefined]) assert.ok(!isMachineId(bad), String(bad))
  })

  it('is what the compiled reading validator accepts (NUL aside: that is unstorable_value, decided later)', () => {
    assert.equal(readingSchema.properties.machine_id, MACHINE_ID_SCHEMA)
    for (const id of ['a', longest, '🛠'.repeat(MACHINE_ID_MAX_LENGTH / 2)]) assert.ok(validateReading(reading(id)), id)
    for (const id of ['', longest + 'M', '🛠'.repeat(MACHINE_ID_MAX_LENGTH / 2 + 1)]) assert.ok(!validateReading(reading(id)), id)
  })

  it('makes a registered id a subset of the rule', () => {
    const re = new RegExp(MACHINE_ID_PATTERN)
    assert.ok(re.test(longest) && re.test('CNC_01.a-b') && !re.test(longest + 'M') && !re.test('') && !re.test('a b'))
  })

  it('is the schema of every {id} and machine_id parameter in the OpenAPI document', () => {
    const paths = openApiDocument.paths as unknown as Record<string, Record<string, { parameters?: Array<{ name: string, schema: unknown }> }>>
    let seen = 0
    for (const [path, item] of Object.entries(paths)) {
      for (const op of Object.values(item)) {
        for (const p of op.parameters ?? []) {
          if ((p.name === 'id' && path.startsWith('/api/v1/machines/')) || (p.name === 'id' && path.startsWith('/api/v2/machines/')) || p.name === 'machine_id') {
            assert.deepEqual(p.schema, MACHINE_ID_SCHEMA, `${path} ${p.name}`)
            seen++
          }
        }
      }
    }
    assert.ok(seen > 5)
  })
})

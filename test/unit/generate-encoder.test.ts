/**
 * The COPY field encoder generator (src/parse/generate-encoder.ts) for every kind of field the
 * descriptor allows (float8, int4, text; required or not), beyond the ones READING_FIELDS has today:
 * the generated module is transpiled, imported and its bytes compared with hand-built ones.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import ts from 'typescript'
import { generateEncoderSource } from '../../src/parse/generate-encoder.js'
import type { FieldSpec } from '../../src/reading-fields.js'

const FIELDS: readonly FieldSpec[] = [
  { name: 'a', sql: 'float8', required: true, aggregatable: true },
  { name: 'b', sql: 'float8', required: false, aggregatable: true },
  { name: 'c', sql: 'int4', required: true, aggregatable: false },
  { name: 'd', sql: 'int4', required: false, aggregatable: false },
  { name: 'e', sql: 'text', required: true, aggregatable: false },
  { name: 'f', sql: 'text', required: false, aggregatable: false, maxLength: 8 },
]

interface Encoder {
  FIELD_COUNT: number
  FIXED_FIELD_BYTES: number
  fieldProblem: (r: object) => string | null
  textBytes: (r: object) => number
  writeFields: (b: Buffer, p: number, r: object) => number
}

async function load (fields: readonly FieldSpec[]): Promise<Encoder> {
  // The module imports its value writers relatively; from a data: URL they need an absolute address.
  const source = generateEncoderSource(fields).replace("'../copy-values.js'", `'${new URL('../../src/parse/copy-values.ts', import.meta.url).href}'`)
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
  return await import('data:text/javascript,' + encodeURIComponent(js)) as Encoder
}

const int32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b }
const float8 = (v: number): Buffer => { const b = Buffer.alloc(8); b.writeDoubleBE(v); return b }
const text = (s: string): Buffer => Buffer.concat([int32(Buffer.byteLength(s)), Buffer.from(s, 'utf8')])

describe('generated COPY field encoder', () => {
  it('writes each kind in descriptor order, NULL (-1) for null or absent optional fields', async () => {
    const enc = await load(FIELDS)
    assert.equal(enc.FIELD_COUNT, FIELDS.length + 2)
    assert.equal(enc.FIXED_FIELD_BYTES, 12 + 12 + 8 + 8 + 4 + 4)
    const r = { a: 1.5, b: null, c: -7, e: 'hé', f: 'x' }
    assert.equal(enc.fieldProblem(r), null)
    assert.equal(enc.textBytes(r), 3 * 3)
    const out = Buffer.alloc(64)
    const end = enc.writeFields(out, 2, r)
    const expected = Buffer.concat([int32(8), float8(1.5), int32(-1), int32(4), int32(-7), int32(-1), text('hé'), text('x')])
    assert.deepEqual(out.subarray(2, end), expected)
    assert.ok(end - 2 <= enc.FIXED_FIELD_BYTES + enc.textBytes(r))
    const full = { a: -0.25, b: 2, c: 1, d: 2_147_483_647, e: '', f: null }
    assert.deepEqual(out.subarray(0, enc.writeFields(out, 0, full)),
      Buffer.concat([int32(8), float8(-0.25), int32(8), float8(2), int32(4), int32(1), int32(4), int32(2_147_483_647), text(''), int32(-1)]))
  })

  it('names the first text with NUL, then the first non-finite number', async () => {
    const enc = await load(FIELDS)
    const ok = { a: 1, c: 1, e: 'x' }
    assert.equal(enc.fieldProblem({ ...ok, e: 'a\u0000', a: Infinity }), 'e: contains a NUL character, which PostgreSQL text cannot store')
    assert.equal(enc.fieldProblem({ ...ok, f: '\u0000' }), 'f: contains a NUL character, which PostgreSQL text cannot store')
    assert.equal(enc.fieldProblem({ ...ok, a: -Infinity }), 'a: must be a finite number')
    assert.equal(enc.fieldProblem({ ...ok, b: Number.NaN }), 'b: must be a finite number')
    assert.equal(enc.fieldProblem({ ...ok, b: null, f: null }), null)
  })

  it('handles a descriptor without text fields', async () => {
    const enc = await load(FIELDS.filter((f) => f.sql !== 'text'))
    assert.equal(enc.textBytes({}), 0)
    assert.equal(enc.fieldProblem({ a: 1, c: 2 }), null)
  })
})

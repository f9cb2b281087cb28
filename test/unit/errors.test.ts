/**
 * The error catalogue (src/errors.ts): codes unique and used, each API code's status known to the
 * server, the OpenAPI document listing every code and reject reason, and the mapping of thrown
 * database errors to API errors (read replica: 25006 → 503 database_read_only).
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { API_ERRORS, ApiErrorCode, ErrorCode, LIVE_ERRORS, REJECTS, SERVICE_ERRORS, ServiceError, apiError } from '../../src/errors.js'
import { HttpError, READ_ONLY_MESSAGE, errorBody, statusLine, toHttpError } from '../../src/api/http.js'
import { openApiDocument } from '../../src/api/openapi.js'

const SRC = new URL('../../src/', import.meta.url).pathname
const sources = readdirSync(SRC, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts') && f !== 'errors.ts' && !f.includes('generated'))
  .map((f) => readFileSync(join(SRC, f), 'utf8'))
  .join('\n')
const pgError = (code: string): Error => Object.assign(new Error(`pg says ${code}`), { code })

const families = [
  { name: 'RejectCode', table: REJECTS },
  { name: 'ApiErrorCode', table: API_ERRORS },
  { name: 'LiveErrorCode', table: LIVE_ERRORS },
  { name: 'ErrorCode', table: SERVICE_ERRORS },
] as const

describe('error catalogue', () => {
  it('names each code once per family, in snake_case (API, reasons) or UPPER_CASE (service)', () => {
    for (const { name, table } of families) {
      const codes = Object.values(table).map((e) => e.code)
      assert.equal(new Set(codes).size, codes.length, name)
      for (const e of Object.values(table)) {
        assert.match(e.code, name === 'ErrorCode' ? /^[A-Z][A-Z_]+$/ : /^[a-z][a-z0-9_]+$/, `${name} ${e.code}`)
        assert.ok(e.meaning.length > 10, `${name} ${e.code} has a meaning`)
      }
    }
    // A live frame's code must not be mistaken for an HTTP one.
    for (const e of Object.values(LIVE_ERRORS)) assert.ok(!Object.values(API_ERRORS).some((a) => (a.code as string) === e.code), e.code)
  })

  it('has no unused code: every entry is named by some source file', () => {
    for (const { name, table } of families) {
      for (const key of Object.keys(table)) {
        assert.ok(new RegExp(`\\b${name}\\.${key}\\b`).test(sources), `${name}.${key} is used nowhere in src/ (delete it)`)
      }
    }
  })

  it('leaves the status to the catalogue: no source writes an error status by hand', () => {
    assert.doesNotMatch(sources, /new HttpError\(\s*\d/)
    assert.doesNotMatch(sources, /\.send\(\s*[45]\d\d\s*,\s*errorBody/)
    assert.doesNotMatch(sources, /writeStatus\('[45]\d\d /)
  })

  it('gives every API code a status the server writes, transient exactly for 503', () => {
    for (const e of Object.values(API_ERRORS)) {
      assert.ok(e.status >= 400 && e.status < 600, e.code)
      assert.match(statusLine(e.status), /^\d{3} [A-Z]/, `status line for ${e.status}`)
      assert.equal(e.transient, e.status === 503, e.code)
      assert.equal(apiError(e.code), e)
    }
  })

  it('builds HttpError from the code alone; the body keeps the contract shape', () => {
    const err = new HttpError(ApiErrorCode.notFound, 'no machine "X"')
    assert.equal(err.status, 404)
    assert.deepEqual(JSON.parse(errorBody(err.code, err.message)), { error: { code: 'not_found', message: 'no machine "X"' } })
    assert.deepEqual(new HttpError(ApiErrorCode.apiBusy, 'busy', { 'Retry-After': '1' }).headers, { 'Retry-After': '1' })
  })

  it('classes service errors from the catalogue', () => {
    const err = new ServiceError(ErrorCode.httpListenFailed, 'port taken')
    assert.equal(err.transient, SERVICE_ERRORS.httpListenFailed.transient)
    assert.equal(err.code, 'HTTP_LISTEN_FAILED')
  })

  it('lists every API code and every reject reason in the OpenAPI document', () => {
    const doc = openApiDocument as unknown as {
      components: { schemas: Record<string, { properties: Record<string, { enum?: string[], properties?: Record<string, { enum?: string[] }> }> }> }
    }
    const errorCodes = doc.components.schemas.Error?.properties.error?.properties?.code?.enum
    assert.deepEqual([...errorCodes ?? []].sort(), Object.values(API_ERRORS).map((e) => e.code).sort())
    const reasons = Object.values(REJECTS).map((r) => r.code).sort()
    assert.deepEqual([...doc.components.schemas.RejectedMessage?.properties.reason?.enum ?? []].sort(), reasons)
  })
})

describe('thrown errors → API errors', () => {
  it('maps a write on a read-only replica (SQLSTATE 25006) to 503 database_read_only naming database.api_url', () => {
    const err = toHttpError(pgError('25006'))
    assert.equal(err.status, 503)
    assert.equal(err.code, 'database_read_only')
    assert.equal(err.message, READ_ONLY_MESSAGE)
    assert.match(err.message, /database\.api_url/)
    assert.match(err.message, /primary/)
    assert.doesNotMatch(err.message, /pg says/, 'never the database text')
  })

  it('maps timeouts, an unmigrated schema and a lost connection to 503, anything else to 500', () => {
    assert.deepEqual(pick(toHttpError(pgError('57014'))), [503, 'query_timeout'])
    assert.deepEqual(pick(toHttpError(pgError('42P01'))), [503, 'database_unavailable'])
    assert.deepEqual(pick(toHttpError(pgError('08006'))), [503, 'database_unavailable'])
    assert.deepEqual(pick(toHttpError(pgError('57P01'))), [503, 'database_unavailable'])
    assert.deepEqual(pick(toHttpError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))), [503, 'database_unavailable'])
    assert.deepEqual(pick(toHttpError(new Error('Connection terminated unexpectedly'))), [503, 'database_unavailable'])
    assert.deepEqual(pick(toHttpError(pgError('42703'))), [500, 'internal'])
    assert.deepEqual(pick(toHttpError(new TypeError('x is undefined'))), [500, 'internal'])
    const own = new HttpError(ApiErrorCode.conflict, 'exists')
    assert.equal(toHttpError(own), own)
  })
})

function pick (e: HttpError): [number, string] {
  return [e.status, e.code]
}

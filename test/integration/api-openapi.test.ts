/**
 * The OpenAPI document stays true: every mounted route is documented with its method, every
 * documented operation is served (neither the 404 of an unknown route nor 405), the served
 * /openapi.json is the document, and auth rules match (/livez, /readyz and /openapi.json open).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { openApiDocument } from '../../src/api/openapi.js'
import { ApiServer } from '../../src/api/server.js'
import type { Service } from '../../src/service.js'
import { ApiClient } from '../helpers/api-client.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, silentLog, type TestEnv } from '../helpers/test-env.js'

type Op = { security?: unknown[], responses: Record<string, unknown> }
const PATHS = openApiDocument.paths as unknown as Record<string, Record<string, Op>>
const toTemplate = (pattern: string): string => pattern.replace(/:([A-Za-z_]+)/g, '{$1}')

describe('OpenAPI document', () => {
  let t: TestEnv
  let service: Service

  before(async () => {
    t = await createTestEnv('APIDOC')
    service = await startService(t)
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
  })

  it('documents every mounted route with its method and auth rule', async () => {
    const server = new ApiServer({ host: '127.0.0.1', port: 0, registry: new Registry(), readiness: { check: async () => null, details: () => ({}) }, log: silentLog, store: () => undefined, authToken: '' })
    await server.start()
    try {
      assert.ok(server.routes.length >= 10)
      for (const r of server.routes) {
        const op = PATHS[toTemplate(r.pattern)]?.[r.method.toLowerCase()]
        assert.ok(op !== undefined, `${r.method} ${r.pattern} is in the OpenAPI document`)
        assert.equal(Array.isArray(op.security) && op.security.length === 0, !r.auth, `${r.method} ${r.pattern}: security matches auth`)
        if (r.auth) assert.ok('401' in op.responses, `${r.method} ${r.pattern} documents 401`)
      }
    } finally {
      server.close()
    }
  })

  it('every documented operation is served, and /openapi.json is the document', async () => {
    const c = new ApiClient(`http://127.0.0.1:${service.httpPort}`)
    assert.deepEqual((await c.get('/openapi.json')).json(), JSON.parse(JSON.stringify(openApiDocument)))
    for (const [tpl, item] of Object.entries(PATHS)) {
      for (const method of Object.keys(item)) {
        const path = tpl.replace(/\{[^}]+\}/g, 'X')
        const r = method === 'post' ? await c.post(path, {}) : await c.request(method.toUpperCase(), path)
        assert.notEqual(r.status, 405, `${method} ${tpl}`)
        if (method === 'head') {
          assert.equal(r.text, '', `HEAD ${tpl} has no body`)
          assert.ok('get' in item, `HEAD ${tpl} is documented beside its GET`)
          continue
        }
        if (r.status === 404) assert.notEqual(r.json<{ error: { message: string } }>().error.message, 'no such route', `${method} ${tpl} is routed`)
      }
    }
    c.assertDocumented()
  })
})

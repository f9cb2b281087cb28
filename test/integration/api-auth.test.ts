/**
 * Optional bearer-token auth: /api/* and /metrics need the token when http.auth_token is set,
 * /livez and /readyz never do; a non-loopback bind without a token refuses to start (exit 2,
 * one line) unless http.allow_unauthenticated is true.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { isLoopbackHost, tokenCheck } from '../../src/api/auth.js'
import { ConfigError } from '../../src/config/load.js'
import type { Service } from '../../src/service.js'
import { ApiClient } from '../helpers/api-client.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, type TestEnv } from '../helpers/test-env.js'

const TOKEN = 'correct horse battery staple'

describe('bearer-token auth', () => {
  let t: TestEnv
  let service: Service
  let base: string

  before(async () => {
    t = await createTestEnv('APIAUTH')
    service = await startService(t, { CNC_HTTP_AUTH_TOKEN: TOKEN })
    base = `http://127.0.0.1:${service.httpPort}`
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
  })

  it('guards /api and /metrics, leaves /livez and /readyz open', async () => {
    const anon = new ApiClient(base)
    const wrong = new ApiClient(base, { authorization: 'Bearer correct horse battery stapler' })
    const good = new ApiClient(base, { authorization: `Bearer ${TOKEN}` })
    for (const path of ['/api/v1/machines', '/api/v1/machines/X', '/api/v1/machines/X/data', '/api/v1/machines/X/latest', '/api/v1/rejected', '/metrics']) {
      for (const c of [anon, wrong]) {
        const r = await c.get(path)
        assert.equal(r.status, 401, path)
        assert.equal(r.headers.get('www-authenticate'), 'Bearer')
        assert.equal(r.json<{ error: { code: string } }>().error.code, 'unauthorized')
      }
      assert.notEqual((await good.get(path)).status, 401, path)
    }
    assert.equal((await anon.post('/api/v1/machines', { id: 'A', name: 'n', location: 'l' })).status, 401)
    assert.equal((await good.post('/api/v1/machines', { id: 'A', name: 'n', location: 'l' })).status, 201)
    assert.equal((await anon.get('/api/v1/machines', { authorization: TOKEN })).status, 401, 'the Bearer scheme is required')
    assert.equal((await anon.get('/api/v1/machines', { authorization: `bearer  ${TOKEN}` })).status, 200, 'scheme is case-insensitive')
    assert.equal((await anon.get('/livez')).status, 200)
    assert.equal((await anon.get('/readyz')).status, 200)
    assert.match((await good.get('/metrics')).text, /cnc_http_refused_total\{reason="unauthorized"\} [1-9]/)
    for (const c of [anon, wrong, good]) c.assertDocumented()
  })

  it('compares tokens by digest; loopback detection', () => {
    const check = tokenCheck('s3cret')
    assert.ok(check !== null)
    assert.equal(check('Bearer s3cret'), true)
    assert.equal(check('Bearer s3cre'), false)
    assert.equal(check('Bearer s3cret2'), false)
    assert.equal(check(''), false)
    assert.equal(tokenCheck(''), null)
    for (const h of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]']) assert.ok(isLoopbackHost(h), h)
    for (const h of ['0.0.0.0', '::', '10.0.0.1', 'example.org', '128.0.0.1']) assert.ok(!isLoopbackHost(h), h)
  })

  it('refuses a non-loopback bind without a token unless allow_unauthenticated', () => {
    assert.throws(() => t.config({ CNC_HTTP_HOST: '0.0.0.0' }), (err: unknown) => err instanceof ConfigError && /^config: http\.host: /.test(err.message))
    assert.equal(t.config({ CNC_HTTP_HOST: '0.0.0.0', CNC_HTTP_ALLOW_UNAUTHENTICATED: 'true' }).http.allow_unauthenticated, true)
    assert.equal(t.config({ CNC_HTTP_HOST: '0.0.0.0', CNC_HTTP_AUTH_TOKEN: 'x' }).http.auth_token, 'x')
    const main = fileURLToPath(new URL('../../src/main.ts', import.meta.url))
    const run = spawnSync(process.execPath, ['--import', 'tsx', main], { env: { PATH: process.env.PATH, CNC_HTTP_HOST: '0.0.0.0' }, encoding: 'utf8', timeout: 30_000 })
    assert.equal(run.status, 2, run.stderr)
    assert.equal(run.stderr.trim().split('\n').length, 1, 'one line')
    assert.match(run.stderr, /http\.host.*auth_token/)
  })
})

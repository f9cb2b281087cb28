/**
 * GET /livez         the process is up (no dependency checks)
 * GET /readyz        200 only when NATS and PostgreSQL answer and the consumer runs; else 503
 *                    naming what is not ready (starting, draining, disconnected, unavailable);
 *                    answered from ReadinessCache, refreshed in the background (at most 1 s old)
 * GET /metrics       Prometheus text (prom-client registry of the whole service)
 * GET /openapi.json  the OpenAPI 3.1 document of this API
 */
import type { Registry } from 'prom-client'
import { JSON_TYPE, type Exchange } from './http.js'
import { openApiDocument } from './openapi.js'
import type { Route } from './router.js'
import type { ReadinessCache } from './readiness-cache.js'

export function healthRoutes (registry: Registry, readiness: ReadinessCache): Route[] {
  const openapi = JSON.stringify(openApiDocument)

  /** The answer stored by the cache (readiness-cache.ts): no query per caller. */
  async function ready (ex: Exchange): Promise<void> {
    const { problems, ageMs } = await readiness.current()
    const details = readiness.details()
    // How old the stored check is (ms; -1 before the first): the body keeps its documented shape.
    const headers = { 'X-Readiness-Age-Ms': String(ageMs) }
    if (problems === null) ex.send(200, JSON.stringify({ status: 'ready', details }), JSON_TYPE, headers)
    else ex.send(503, JSON.stringify({ status: 'not_ready', checks: problems, details }), JSON_TYPE, headers)
  }

  async function metrics (ex: Exchange): Promise<void> {
    ex.send(200, await registry.metrics(), registry.contentType)
  }

  return [
    { method: 'GET', pattern: '/livez', auth: false, handler: (ex) => ex.send(200, '{"status":"ok"}') },
    { method: 'GET', pattern: '/readyz', auth: false, handler: ready },
    { method: 'GET', pattern: '/metrics', auth: true, handler: metrics },
    { method: 'GET', pattern: '/openapi.json', auth: false, handler: (ex) => ex.send(200, openapi) },
  ]
}

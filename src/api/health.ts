/**
 * GET /livez         the process is up (no dependency checks)
 * GET /readyz        200 only when NATS and PostgreSQL answer and the consumer runs; else 503
 *                    naming what is not ready (starting, draining, disconnected, unavailable)
 * GET /metrics       Prometheus text (prom-client registry of the whole service)
 * GET /openapi.json  the OpenAPI 3.1 document of this API
 */
import type { Registry } from 'prom-client'
import type { Exchange } from './http.js'
import { openApiDocument } from './openapi.js'
import type { Route } from './router.js'
import type { Readiness } from './server.js'

/** A readiness probe that hangs (half-open socket) answers 503 after this long. */
const READY_TIMEOUT_MS = 3_000

export function healthRoutes (registry: Registry, readiness: Readiness): Route[] {
  const openapi = JSON.stringify(openApiDocument)

  async function ready (ex: Exchange): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<Record<string, string>>((resolve) => {
      timer = setTimeout(() => resolve({ readiness: `no answer within ${READY_TIMEOUT_MS} ms` }), READY_TIMEOUT_MS)
    })
    try {
      const problems = await Promise.race([readiness.check(), timeout])
      const details = readiness.details()
      if (problems === null) ex.send(200, JSON.stringify({ status: 'ready', details }))
      else ex.send(503, JSON.stringify({ status: 'not_ready', checks: problems, details }))
    } finally {
      clearTimeout(timer)
    }
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

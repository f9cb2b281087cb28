/**
 * A tiny route table over uWS's router. For every pattern it registers the declared methods,
 * then `any` on the same pattern (uWS tries method routes first) for 405 with Allow, and a final
 * catch-all for 404. Each request becomes an Exchange (http.ts) before its handler runs.
 */
import type { Logger } from 'pino'
import type { TokenCheck } from './auth.js'
import { ApiErrorCode, Exchange, HttpError, errorBody, JSON_TYPE } from './http.js'
import type { HttpMetrics } from './http-metrics.js'
import type { Uws } from './uws.js'

export type Method = 'GET' | 'POST'

export interface Route {
  readonly method: Method
  /** uWS pattern, `:name` for a parameter; also the `route` metric label. */
  readonly pattern: string
  /** Requires the bearer token when http.auth_token is set (/livez and /readyz do not). */
  readonly auth: boolean
  /** Runs synchronously up to its first await: read the body (onData) there. */
  readonly handler: (ex: Exchange) => void | Promise<void>
}

export interface MountOptions {
  readonly metrics: HttpMetrics
  readonly log: Logger
  readonly token: TokenCheck | null
}

const UNMATCHED = '(unmatched)'
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
/** Client-chosen methods would make unbounded metric labels. */
const methodLabel = (m: string): string => KNOWN_METHODS.has(m) ? m : 'OTHER'

export function mount (app: Uws.TemplatedApp, routes: readonly Route[], opts: MountOptions): void {
  const { metrics, log, token } = opts
  const exchange = (res: Uws.HttpResponse, req: Uws.HttpRequest, route: string, method: string, paramCount: number): Exchange => {
    const params: string[] = []
    for (let i = 0; i < paramCount; i++) params.push(req.getParameter(i))
    return new Exchange(res, { route, method, params, query: req.getQuery() ?? '', header: (n) => req.getHeader(n) }, metrics, log)
  }
  const allowed = new Map<string, Method[]>()
  for (const r of routes) {
    const paramCount = (r.pattern.match(/\/:/g) ?? []).length
    const register = r.method === 'GET' ? app.get.bind(app) : app.post.bind(app)
    register(r.pattern, (res, req) => {
      const ex = exchange(res, req, r.pattern, r.method, paramCount)
      if (r.auth && token !== null && !token(ex.headers.authorization)) {
        metrics.refused.inc({ reason: 'unauthorized' })
        ex.fail(new HttpError(401, ApiErrorCode.unauthorized, 'missing or wrong bearer token (Authorization: Bearer <http.auth_token>)', { 'WWW-Authenticate': 'Bearer' }))
        return
      }
      try {
        const pending = r.handler(ex)
        if (pending !== undefined) pending.catch((err: unknown) => ex.fail(err))
      } catch (err) {
        ex.fail(err)
      }
    })
    allowed.set(r.pattern, [...(allowed.get(r.pattern) ?? []), r.method])
  }
  for (const [pattern, methods] of allowed) {
    const allow = methods.join(', ')
    app.any(pattern, (res, req) => {
      const ex = exchange(res, req, pattern, methodLabel(req.getCaseSensitiveMethod()), 0)
      ex.send(405, errorBody(ApiErrorCode.methodNotAllowed, `${ex.method} is not allowed here; allowed: ${allow}`), JSON_TYPE, { Allow: allow })
    })
  }
  app.any('/*', (res, req) => {
    const ex = exchange(res, req, UNMATCHED, methodLabel(req.getCaseSensitiveMethod()), 0)
    ex.send(404, errorBody(ApiErrorCode.notFound, 'no such route'))
  })
}

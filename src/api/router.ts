/**
 * A tiny route table over uWS's router. For every pattern it registers the declared methods (and
 * HEAD for each GET, answered by the GET handler through head.ts), then `any` on the same pattern
 * (uWS tries method routes first) for 405 with Allow, and a final catch-all for 404. Each request
 * becomes an Exchange (http.ts) before its handler runs.
 */
import type { Logger } from 'pino'
import type { TokenCheck } from './auth.js'
import { headResponse } from './head.js'
import { ApiErrorCode, Exchange, HttpError } from './http.js'
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

/**
 * POST bodies are JSON whatever their Content-Type says, as in the original API (plain `curl -d`
 * sends application/x-www-form-urlencoded, fetch with a string body text/plain). Those two and no
 * type at all are the types a browser may send cross-site without a CORS preflight, so they are
 * taken only without an Origin header (a browser always sends one on POST): another web page the
 * operator opens cannot register machines through the browser when http.auth_token is not set.
 */
const JSON_TYPE_RE = /^application\/(?:[\w.+-]+\+)?json$/
const LENIENT_TYPES = new Set(['', 'application/x-www-form-urlencoded', 'text/plain'])

function mediaTypeRefusal (contentType: string, origin: string): HttpError | null {
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  if (JSON_TYPE_RE.test(type) || (LENIENT_TYPES.has(type) && origin === '')) return null
  return new HttpError(ApiErrorCode.unsupportedMediaType, type === '' || LENIENT_TYPES.has(type)
    ? 'Content-Type must be application/json for requests from a browser (Origin present)'
    : `Content-Type must be application/json; got ${JSON.stringify(type.slice(0, 64))}`)
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
    // HEAD (on any route, the 404 and 405 answers included) never sends a body.
    const r = req.getCaseSensitiveMethod() === 'HEAD' ? headResponse(res) : res
    return new Exchange(r, { route, method, params, query: req.getQuery() ?? '', header: (n) => req.getHeader(n) }, metrics, log)
  }
  const allowed = new Map<string, string[]>()
  for (const r of routes) {
    const paramCount = (r.pattern.match(/\/:/g) ?? []).length
    const handle = (head: boolean) => (res: Uws.HttpResponse, req: Uws.HttpRequest): void => {
      const ex = exchange(res, req, r.pattern, head ? 'HEAD' : r.method, paramCount)
      if (r.auth && token !== null && !token(ex.headers.authorization)) {
        metrics.refused.inc({ reason: 'unauthorized' })
        ex.fail(new HttpError(ApiErrorCode.unauthorized, 'missing or wrong bearer token (Authorization: Bearer <http.auth_token>)', { 'WWW-Authenticate': 'Bearer' }))
        return
      }
      const refusal = r.method === 'POST' ? mediaTypeRefusal(ex.headers.contentType, req.getHeader('origin')) : null
      if (refusal !== null) {
        ex.fail(refusal)
        return
      }
      try {
        const pending = r.handler(ex)
        if (pending !== undefined) pending.catch((err: unknown) => ex.fail(err))
      } catch (err) {
        ex.fail(err)
      }
    }
    if (r.method === 'GET') {
      app.get(r.pattern, handle(false))
      app.head(r.pattern, handle(true))
    } else {
      app.post(r.pattern, handle(false))
    }
    allowed.set(r.pattern, [...(allowed.get(r.pattern) ?? []), ...(r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])])
  }
  for (const [pattern, methods] of allowed) {
    const allow = methods.join(', ')
    app.any(pattern, (res, req) => {
      const ex = exchange(res, req, pattern, methodLabel(req.getCaseSensitiveMethod()), 0)
      ex.fail(new HttpError(ApiErrorCode.methodNotAllowed, `${ex.method} is not allowed here; allowed: ${allow}`, { Allow: allow }))
    })
  }
  app.any('/*', (res, req) => {
    const ex = exchange(res, req, UNMATCHED, methodLabel(req.getCaseSensitiveMethod()), 0)
    ex.fail(new HttpError(ApiErrorCode.notFound, 'no such route'))
  })
}

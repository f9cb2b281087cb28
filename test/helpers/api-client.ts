/**
 * HTTP client for the API integration tests. It records every (method, path, status) it sees so
 * a test file can assert that each observed status is documented in the OpenAPI document.
 */
import assert from 'node:assert/strict'
import { openApiDocument } from '../../src/api/openapi.js'

export interface ApiResponse {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  json<T = Record<string, unknown>> (): T
}

interface Observed { readonly method: string, readonly path: string, readonly status: number }

type Operation = { readonly responses: Readonly<Record<string, unknown>> }
const PATHS = openApiDocument.paths as unknown as Record<string, Record<string, Operation>>

/** OpenAPI path template that serves a URL path, or undefined (the server's 404). */
export function templateOf (path: string): string | undefined {
  const segments = path.split('?')[0]?.split('/') ?? []
  return Object.keys(PATHS).find((tpl) => {
    const parts = tpl.split('/')
    return parts.length === segments.length && parts.every((p, i) => p.startsWith('{') ? (segments[i] ?? '') !== '' : p === segments[i])
  })
}

export class ApiClient {
  readonly base: string
  readonly observed: Observed[] = []
  readonly #headers: Record<string, string>

  constructor (base: string, headers: Record<string, string> = {}) {
    this.base = base
    this.#headers = headers
  }

  async request (method: string, path: string, opts: { body?: string | Uint8Array, headers?: Record<string, string> } = {}): Promise<ApiResponse> {
    const r = await fetch(this.base + path, { method, body: opts.body, headers: { ...this.#headers, ...opts.headers } })
    const text = await r.text()
    this.observed.push({ method, path, status: r.status })
    return { status: r.status, headers: r.headers, text, json: <T>() => JSON.parse(text) as T }
  }

  get (path: string, headers?: Record<string, string>): Promise<ApiResponse> {
    return this.request('GET', path, { headers })
  }

  post (path: string, body: unknown, contentType = 'application/json'): Promise<ApiResponse> {
    return this.request('POST', path, { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': contentType } })
  }

  /** Every status seen is a documented response of its operation (404 off the map, 405 for other methods). */
  assertDocumented (): void {
    for (const o of this.observed) {
      const tpl = templateOf(o.path)
      const where = `${o.method} ${o.path.slice(0, 120)} → ${o.status}`
      if (tpl === undefined) {
        assert.equal(o.status, 404, `${where}: not in the OpenAPI paths, so it must be 404`)
        continue
      }
      const op = PATHS[tpl]?.[o.method.toLowerCase()]
      if (op === undefined) assert.equal(o.status, 405, `${where}: method not in the document, so it must be 405`)
      else assert.ok(String(o.status) in op.responses, `${where}: status not documented for ${o.method} ${tpl}`)
    }
  }
}

/** Fails unless no response seen was a 5xx. */
export function assertNo5xx (client: ApiClient): void {
  const bad = client.observed.filter((o) => o.status >= 500)
  assert.deepEqual(bad, [], 'no request may answer 5xx')
}

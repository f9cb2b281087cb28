/**
 * The OpenAPI side of the error catalogue (errors.ts): the Error schema with every API error code,
 * the dead-letter reasons, and error responses whose description names the codes of their status.
 * Generated from the tables, never retyped: a code added there appears here. Also the small
 * builders every openapi*.ts fragment shares.
 */
import { API_ERRORS, REJECTS, type ApiErrorEntry } from '../errors.js'

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
export const json = (schema: unknown) => ({ 'application/json': { schema } })
export const ok = (description: string, schema: unknown) => ({ description, content: json(schema) })

const apiErrors: readonly ApiErrorEntry[] = Object.values(API_ERRORS)
const line = (e: { code: string, meaning: string }, status?: number): string => `\`${e.code}\`${status === undefined ? '' : ` (${status})`}: ${e.meaning}`

/** #/components/schemas/Error: the body of every 4xx/5xx answer. */
export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { enum: apiErrors.map((e) => e.code), description: 'Stable; branch on it. ' + apiErrors.map((e) => line(e, e.status)).join('; ') },
        message: { type: 'string', description: 'For humans; may change' },
      },
    },
  },
}

/** The `reason` of a dead letter. */
export const rejectReasonSchema = {
  enum: Object.values(REJECTS).map((r) => r.code),
  description: 'Why the message was dead-lettered. ' + Object.values(REJECTS).map((r) => line(r)).join('; '),
}

/**
 * An error response: `description` (what it means on this route), then the codes the catalogue
 * gives this status (HTTP operations only: live-feed upgrade codes are left out).
 */
export function errorResponse (status: number, description: string) {
  const codes = apiErrors.filter((e) => e.status === status && e.liveOnly !== true).map((e) => `\`${e.code}\``)
  return { description: codes.length === 0 ? description : `${description} (codes: ${codes.join(', ')})`, content: json(ref('Error')) }
}

/** The error responses most routes share. */
export const commonErrors = {
  400: errorResponse(400, 'A parameter or the body is invalid; the message names it'),
  401: errorResponse(401, 'http.auth_token is set and the request lacks `Authorization: Bearer <token>`'),
  500: errorResponse(500, 'Internal error (never carries database text)'),
  503: errorResponse(503, 'The database is unavailable or read-only, the query timed out, or every API database connection stayed busy for http.db_wait_ms (with Retry-After); never carries database text'),
}

/** A GET operation: `ok200` (an `ok(...)` response), the common errors, and the route's own `errors` (e.g. its 404). */
export const getOperation = (summary: string, parameters: readonly unknown[], ok200: unknown, errors: Record<number, unknown> = {}) =>
  ({ get: { summary, parameters, responses: { 200: ok200, ...commonErrors, ...errors } } })

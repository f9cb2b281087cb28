/**
 * OpenAPI pieces every keyset-paged route shares: its query parameters and its page envelope
 * (`limit`, `count`, `has_more`, `next_cursor`, `data`), so each route's fragment states only its own.
 */

/** An optional query parameter. */
export const q = (name: string, schema: unknown, description: string) => ({ name, in: 'query', required: false, schema, description })

/** `limit` (1..max, default `dflt`, "<what> per page") and `cursor` (described by `cursorText`). */
export const pageParams = (max: number, dflt: number, what: string, cursorText = 'next_cursor of the previous page') => [
  q('limit', { type: 'integer', minimum: 1, maximum: max, default: dflt }, `${what} per page`),
  q('cursor', { type: 'string' }, cursorText),
]

/**
 * A page: the route's own leading `fields` (all required), then the envelope, `data` holding `items`.
 * `extra` adds descriptions or keywords to envelope properties (e.g. count's meaning).
 */
export const keysetPage = (fields: Record<string, unknown>, items: unknown, extra: { count?: string, cursor?: string, data?: string } = {}) => ({
  type: 'object',
  required: [...Object.keys(fields), 'limit', 'count', 'has_more', 'next_cursor', 'data'],
  properties: {
    ...fields,
    limit: { type: 'integer' },
    count: extra.count === undefined ? { type: 'integer' } : { type: 'integer', description: extra.count },
    has_more: { type: 'boolean' },
    next_cursor: extra.cursor === undefined ? { type: ['string', 'null'] } : { type: ['string', 'null'], description: extra.cursor },
    data: extra.data === undefined ? { type: 'array', items } : { type: 'array', description: extra.data, items },
  },
})

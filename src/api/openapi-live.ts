/**
 * The WebSocket live feed in the OpenAPI document (`x-live-feed`: OpenAPI has no WebSocket
 * operations): the messages each side sends, as JSON Schemas, and the error codes (errors.ts).
 * The README's "Live feed" section has a worked example of a resume.
 */
import { LIVE_ERRORS } from '../errors.js'
import { MACHINE_ID_SCHEMA } from '../machine-id.js'

const machines = { oneOf: [{ const: '*' }, { type: 'array', items: MACHINE_ID_SCHEMA }] }
const cursor = {
  type: 'string',
  description: 'Opaque position in commit order (up to 12 characters plus 4/3 of the machine id\'s UTF-8 length); pass it back unchanged as "since". ' +
    'Present on exact subscriptions only.',
}

export const liveFeedDoc = {
  path: '/api/v1/live',
  description: 'GET upgrades to a WebSocket (token as for the API: Authorization: Bearer or ?token=). Readings are sent after their ' +
    'transaction committed: one frame per committed transaction and subscription, machine frames of one transaction in machine id order. ' +
    'Two kinds of subscription, chosen per connection by a subscribe sent while it holds none: throttled (the default: at most ' +
    'live.max_per_machine_per_second readings per machine per second, latest reading time wins, no cursor) and exact ({"exact": true}: ' +
    'every reading, frames with cursors; every subscription is exact when live.max_per_machine_per_second is 0). ' +
    'Resume (exact): a reconnecting client sends {"subscribe": …, "since": <cursor of the last readings frame it kept>} as its first subscribe; ' +
    'it gets everything committed after that position from the database, then {"type":"resumed"}, then the live frames, with no ' +
    'reading missed or repeated across the seam. A cursor older than live.resume_max_age_s is refused (resume_too_old): page through ' +
    'GET /api/v1/machines/{id}/data instead.',
  client_messages: {
    subscribe: {
      type: 'object',
      required: ['subscribe'],
      additionalProperties: false,
      properties: {
        subscribe: machines,
        exact: { type: 'boolean', description: 'true: every reading with cursors (exact); false or absent: throttled. Chosen while the connection holds no subscription; switching later is invalid_message ({"unsubscribe": "*"} first).' },
        since: { ...cursor, description: 'Resume from this cursor (implies exact); only while the connection holds no subscription.' },
      },
    },
    unsubscribe: { type: 'object', required: ['unsubscribe'], additionalProperties: false, properties: { unsubscribe: machines } },
  },
  server_messages: {
    subscribed: {
      type: 'object',
      required: ['type', 'machines'],
      properties: { type: { const: 'subscribed' }, machines, exact: { const: true, description: 'Present when the subscriptions are exact (frames carry cursors).' } },
    },
    readings: {
      type: 'object',
      required: ['type', 'data'],
      properties: { type: { const: 'readings' }, cursor, data: { type: 'array', items: { $ref: '#/components/schemas/Reading' } } },
    },
    resumed: {
      type: 'object',
      required: ['type', 'readings'],
      description: 'The replay of a resume is over (readings: how many it sent); live frames follow.',
      properties: { type: { const: 'resumed' }, readings: { type: 'integer', minimum: 0 } },
    },
    error: {
      type: 'object',
      required: ['type', 'code', 'message'],
      properties: { type: { const: 'error' }, code: { enum: Object.values(LIVE_ERRORS).map((e) => e.code) }, message: { type: 'string' } },
    },
  },
  error_codes: Object.fromEntries(Object.values(LIVE_ERRORS).map((e) => [e.code, e.closes ? `${e.meaning}. The server then closes the connection` : e.meaning])),
} as const

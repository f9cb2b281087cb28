/**
 * The OpenAPI 3.1 document of the HTTP API, served at /openapi.json. test/integration/api-openapi
 * checks that every mounted route is described here (and nothing else is), and that every status
 * the integration tests observe is a documented response of its operation.
 */
import { MACHINE_ID_PATTERN, MACHINE_ID_SCHEMA } from '../machine-id.js'
import { READING_FIELDS, responseSchema } from '../reading-fields.js'
import { MAX_BODY_BYTES, newMachineSchema } from './machines.js'
import { COUNT_HEADER, DEFAULT_LIMIT, DEFAULT_MAX_POINTS, MAX_LIMIT, MAX_POINTS, MAX_RANGE_DAYS } from './readings.js'
import { DEFAULT_FLEET_LIMIT, MAX_FLEET_LIMIT } from './fleet.js'
import { DEFAULT_REJECTED_LIMIT, MAX_REJECTED_LIMIT, PREVIEW_BYTES } from './rejected.js'
import { plantPaths, plantSchemas } from './openapi-plant.js'
import { alarmPaths, alarmSchemas } from './openapi-alarms.js'
import { liveFeedDoc } from './openapi-live.js'
import { keysetPage, pageParams, q } from './openapi-pages.js'
import { commonErrors, errorResponse, errorSchema, getOperation, json, ok, ref, rejectReasonSchema } from './openapi-errors.js'

const ts = { type: 'string', format: 'date-time', description: 'RFC 3339, UTC, microseconds' }
/** Fields a dead letter has in the list and in its own route (which adds the whole payload). */
const rejectedFields = {
  id: { type: 'integer' },
  received_at: ts,
  subject: { type: 'string' },
  stream_seq: { type: ['integer', 'null'] },
  reason: rejectReasonSchema,
  detail: { type: 'string' },
}

const { 400: E400, 401: E401, 500: E500, 503: E503 } = commonErrors

/** Body of /readyz: facts in `details`, and what is not ready in `checks` (503 only); values are text. */
const readiness = (status: 'ready' | 'not_ready') => ({
  type: 'object',
  required: status === 'ready' ? ['status', 'details'] : ['status', 'checks', 'details'],
  properties: {
    status: { const: status },
    ...(status === 'ready' ? {} : { checks: { type: 'object', additionalProperties: { type: 'string' } } }),
    details: { type: 'object', additionalProperties: { type: 'string' } },
  },
})
const readinessAge = { 'X-Readiness-Age-Ms': { description: 'Age of the stored check in ms (-1 before the first)', schema: { type: 'integer' } } }

const idParam = { name: 'id', in: 'path', required: true, schema: MACHINE_ID_SCHEMA }
const OPAQUE_CURSOR = 'Pass as `cursor` for the next page (opaque)'
const timeQ = (name: string, description: string) => q(name, { type: 'string', format: 'date-time' }, description)

const dataDescription = 'Window: start_time..end_time, both inclusive. As in the original API, without start_time it starts at ' +
  '0001-01-01T00:00:00Z and without end_time it ends at now + 24 h, so no parameters means all data. ' +
  `A window given with both bounds may span at most ${MAX_RANGE_DAYS} days (range_too_large); a window with a default bound is not ` +
  'limited, as every page is bounded by limit. Pages are keyset on (time, row key): at most limit rows each, also inside a group ' +
  'of rows sharing one timestamp; every row is returned once. A machine without readings (known or not) answers 200 with an ' +
  'empty list. With a cursor, start_time and end_time are ignored (the cursor holds the window). Aggregates (bucket, agg): ' +
  `the last hour by default, one hour from a single bound, at most ${MAX_RANGE_DAYS} days.`
const dataParams = [
  idParam,
  timeQ('start_time', 'RFC 3339 with offset; fractional seconds to the microsecond; default 0001-01-01T00:00:00Z (aggregates: end_time - 1 h)'),
  timeQ('end_time', 'RFC 3339 with offset; default now + 24 h (aggregates: now, or start_time + 1 h)'),
  q('limit', { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT }, 'Rows per page'),
  q('cursor', { type: 'string' }, 'Opaque position of the next page (from the Link header, or next_cursor)'),
  q('bucket', { type: 'string', pattern: '^[1-9][0-9]{0,5}[smhd]$' }, 'Bucket width, e.g. 1m (with agg)'),
  q('agg', { enum: ['avg', 'min', 'max', 'last'] }, 'Aggregate per bucket (with bucket)'),
  q('max_points', { type: 'integer', minimum: 2, maximum: MAX_POINTS, default: DEFAULT_MAX_POINTS }, 'Cap on buckets; the bucket is widened to fit'),
]

/** A Reading's properties: machine_id, timestamp, then the field descriptor's (reading-fields.ts). */
const readingFields: Record<string, unknown> = {
  machine_id: { type: 'string' },
  timestamp: ts,
  ...Object.fromEntries(READING_FIELDS.map((f) => [f.name, responseSchema(f)])),
}

type Operation = { summary?: string, security?: unknown, parameters?: unknown, responses: Record<string, { description: string, headers?: unknown }> }

/** Adds, beside every GET operation, its HEAD: same parameters, statuses and headers, no content. */
function withHead<D extends { paths: Record<string, Record<string, unknown>> }> (doc: D): D {
  for (const item of Object.values(doc.paths) as Array<Record<string, Operation>>) {
    const get = item.get
    if (get === undefined) continue
    const responses = Object.fromEntries(Object.entries(get.responses).map(([status, r]) =>
      [status, r.headers === undefined ? { description: r.description } : { description: r.description, headers: r.headers }]))
    item.head = { summary: `Headers of GET: ${get.summary ?? ''}`, ...(get.security === undefined ? {} : { security: get.security }), ...(get.parameters === undefined ? {} : { parameters: get.parameters }), responses }
  }
  return doc
}

export const openApiDocument = withHead({
  openapi: '3.1.0',
  info: {
    title: 'cnc-monitor API',
    version: '1',
    description: 'Queries over CNC telemetry stored by cnc-monitor. Errors: {"error":{"code","message"}}. ' +
      'With http.auth_token set, /api/* and /metrics need `Authorization: Bearer <token>`. ' +
      'Unknown paths answer 404 and known paths with another method 405 with an Allow header. ' +
      'HEAD answers on every GET operation with the headers GET would send (Content-Length included) and no body. ' +
            'Without http.auth_token, /api/* and /metrics answer 403 host_not_allowed unless Host is a loopback name, http.host or in http.allowed_hosts (DNS rebinding). ' +
      'GET /api/v1/live upgrades to the WebSocket live feed (not an HTTP operation: its messages are in x-live-feed; the README, "Live feed", has examples); ' +
      'an upgrade whose Origin is neither the same origin nor in http.allowed_origins answers 403 origin_not_allowed.',
  },
  'x-live-feed': liveFeedDoc,
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: errorSchema,
      Machine: {
        type: 'object',
        required: ['id', 'name', 'location', 'controller_type', 'max_spindle_speed_rpm', 'axis_count', 'created_at', 'last_updated'],
        properties: {
          id: { type: 'string', pattern: MACHINE_ID_PATTERN },
          name: { type: 'string' },
          location: { type: 'string' },
          controller_type: { type: ['string', 'null'] },
          max_spindle_speed_rpm: { type: ['integer', 'null'] },
          axis_count: { type: ['integer', 'null'] },
          created_at: ts,
          last_updated: ts,
        },
      },
      NewMachine: newMachineSchema,
      Reading: { type: 'object', required: Object.keys(readingFields), properties: readingFields },
      ReadingPage: keysetPage({ machine_id: { type: 'string' }, start_time: ts, end_time: ts }, ref('Reading'), { cursor: OPAQUE_CURSOR }),
      BucketPage: {
        type: 'object',
        required: ['machine_id', 'start_time', 'end_time', 'agg', 'bucket_seconds', 'requested_bucket_seconds', 'count', 'data'],
        properties: {
          machine_id: { type: 'string' },
          start_time: ts,
          end_time: ts,
          agg: { enum: ['avg', 'min', 'max', 'last'] },
          bucket_seconds: { type: 'integer', description: 'Width used: the requested one, widened when the window would exceed max_points' },
          requested_bucket_seconds: { type: 'integer' },
          count: { type: 'integer' },
          data: {
            type: 'array',
            items: {
              type: 'object',
              required: ['bucket', 'count'],
              description: `bucket start, rows in the bucket, and each numeric field aggregated (last: also ${READING_FIELDS.filter((f) => !f.aggregatable).map((f) => f.name).join(', ')})`,
              properties: { bucket: ts, count: { type: 'integer' } },
              additionalProperties: { type: ['number', 'string', 'null'] },
            },
          },
        },
      },
      // Issue 7: fleet reads.
      FleetLatest: keysetPage({ as_of: ts, stale_after_seconds: { type: 'integer', description: 'fleet.stale_after_seconds' } }, {
        type: 'object',
        required: [...Object.keys(readingFields), 'age_seconds', 'stale'],
        properties: { ...readingFields, age_seconds: { type: 'number' }, stale: { type: 'boolean', description: 'age_seconds > stale_after_seconds' } },
      }, { count: 'Machines in this page', cursor: OPAQUE_CURSOR, data: 'The newest reading of each machine of the page, ordered by machine_id' }),
      MachineStates: {
        type: 'object',
        required: ['machine_id', 'start_time', 'end_time', 'effective_end_time', 'window_seconds', 'running_states', 'max_gap_seconds',
          'running_seconds', 'no_data_seconds', 'utilization', 'utilization_of_known', 'states'],
        properties: {
          machine_id: { type: 'string' },
          start_time: ts,
          end_time: ts,
          effective_end_time: { ...ts, description: 'min(end_time, now): the window actually measured' },
          window_seconds: { type: 'number' },
          running_states: { type: 'array', items: { type: 'string' }, description: 'fleet.running_states' },
          max_gap_seconds: { type: 'integer', description: 'fleet.max_gap_seconds: a state holds at most this long after its reading' },
          running_seconds: { type: 'number' },
          no_data_seconds: { type: 'number', description: 'Before the first reading, and gaps beyond max_gap_seconds' },
          utilization: { type: ['number', 'null'], description: 'running_seconds / window_seconds; null for an empty window' },
          utilization_of_known: { type: ['number', 'null'], description: 'running_seconds / (window_seconds - no_data_seconds)' },
          states: {
            type: 'array',
            items: {
              type: 'object',
              required: ['state', 'seconds', 'share', 'running'],
              properties: { state: { type: ['string', 'null'] }, seconds: { type: 'number' }, share: { type: ['number', 'null'] }, running: { type: 'boolean' } },
            },
          },
        },
      },
      // Issue 12: plant-floor answers (openapi-plant.ts).
      ...plantSchemas,
      ...alarmSchemas,
      RejectedPage: keysetPage({}, {
        type: 'object',
        required: ['id', 'received_at', 'subject', 'stream_seq', 'reason', 'detail', 'payload_bytes', 'payload_truncated', 'payload_encoding', 'payload_preview'],
        properties: {
          ...rejectedFields,
          payload_bytes: { type: 'integer', description: 'Size of the stored payload' },
          payload_truncated: { type: 'boolean', description: `true when the payload is longer than the preview (${PREVIEW_BYTES} bytes); GET /api/v1/rejected/{id} has all of it` },
          payload_encoding: { enum: ['utf8', 'base64'] },
          payload_preview: { type: 'string', description: `The first ${PREVIEW_BYTES} bytes (as text: up to the last whole character)` },
        },
      }),
      RejectedMessage: {
        type: 'object',
        required: ['id', 'received_at', 'subject', 'stream_seq', 'reason', 'detail', 'payload_bytes', 'payload_encoding', 'payload'],
        properties: {
          ...rejectedFields,
          payload_bytes: { type: 'integer' },
          payload_encoding: { enum: ['utf8', 'base64'] },
          payload: { type: 'string', description: 'The whole stored payload' },
        },
      },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/livez': { get: { summary: 'Process is up', security: [], responses: { 200: ok('Up', { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } }) } } },
    '/readyz': {
      get: {
        summary: 'Ready: NATS and PostgreSQL answer and the consumer runs',
        security: [],
        responses: {
          200: { ...ok('Ready; `details` gives the database mode (timescaledb, timescaledb-apache, postgres) and the pipeline state', readiness('ready')), headers: readinessAge },
          503: { ...ok('Not ready; `checks` names what is not', readiness('not_ready')), headers: readinessAge },
        },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics',
        responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, 401: E401, 500: E500 },
      },
    },
    '/openapi.json': { get: { summary: 'This document', security: [], responses: { 200: ok('OpenAPI 3.1', { type: 'object' }) } } },
    '/api/v1/machines': {
      get: { summary: 'All machines, ordered by id', responses: { 200: ok('Machines', { type: 'array', items: ref('Machine') }), 401: E401, 500: E500, 503: E503 } },
      post: {
        summary: 'Register a machine',
        description: 'The body is JSON whatever the Content-Type (as in the original API): application/json, no type, ' +
          'application/x-www-form-urlencoded (plain `curl -d`) and text/plain are read as JSON, the last three only without an ' +
          'Origin header (browsers send one; this keeps other web pages from registering machines). created_at and last_updated ' +
          '(the original Machine struct marshals them) are ignored; "" and 0 for the optional fields (Go\'s zero values) are stored as null. ' +
          'Other unknown fields are refused (400 naming the field).',
        requestBody: { required: true, content: json(ref('NewMachine')) },
        responses: {
          201: ok('Stored', ref('Machine')),
          400: E400,
          401: E401,
          409: errorResponse(409, 'A machine with this id exists'),
          413: errorResponse(413, `Body over ${MAX_BODY_BYTES} bytes`),
          415: errorResponse(415, 'Content-Type is neither JSON nor one read as JSON (or, from a browser, not application/json)'),
          500: E500,
          503: E503,
        },
      },
    },
    '/api/v1/machines/{id}': getOperation('One machine', [idParam], ok('Machine', ref('Machine')), { 404: errorResponse(404, 'No such machine') }),
    '/api/v1/machines/{id}/data': {
      get: {
        summary: 'Readings in time order: a JSON array (the original API\'s contract), paged through the Link header; or aggregates per time bucket when bucket and agg are given',
        description: dataDescription + ' The answer is a bare JSON array of readings; when more rows follow, the `Link` header carries ' +
          '`<…>; rel="next"` (RFC 8288, a path-absolute reference with the cursor and limit): a client that ignores headers gets the ' +
          'first page, one that follows `next` until it is absent gets every row once. `X-Result-Count` gives the rows in this page. ' +
          'With bucket and agg the answer is a BucketPage (an envelope: not part of the original API).',
        parameters: dataParams,
        responses: {
          200: {
            description: 'A page of readings (array), or buckets',
            headers: {
              Link: { description: 'rel="next": the next page; absent on the last page', schema: { type: 'string' } },
              [COUNT_HEADER]: { description: 'Readings in this page', schema: { type: 'integer' } },
            },
            content: json({ oneOf: [{ type: 'array', items: ref('Reading') }, ref('BucketPage')] }),
          },
          400: E400,
          401: E401,
          500: E500,
          503: E503,
        },
      },
    },
    '/api/v2/machines/{id}/data': {
      get: {
        summary: 'The same pages as /api/v1/machines/{id}/data in an envelope: window, count, has_more and next_cursor beside the data',
        description: dataDescription + ' When has_more, pass next_cursor as cursor.',
        parameters: dataParams,
        responses: {
          200: { description: 'A page of readings, or buckets', content: json({ oneOf: [ref('ReadingPage'), ref('BucketPage')] }) },
          400: E400,
          401: E401,
          500: E500,
          503: E503,
        },
      },
    },
    '/api/v1/machines/{id}/latest': getOperation('The reading with the greatest timestamp (not the last to arrive)', [idParam],
      ok('Reading', ref('Reading')), { 404: errorResponse(404, 'No readings for this machine') }),
    '/api/v1/rejected': getOperation('Dead-lettered messages, newest first, with a bounded payload preview and the payload size',
      pageParams(MAX_REJECTED_LIMIT, DEFAULT_REJECTED_LIMIT, 'Rows'), ok('A page of dead letters', ref('RejectedPage'))),
    '/api/v1/rejected/{id}': getOperation('One dead letter with its whole payload', [{ name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } }],
      ok('The dead letter', ref('RejectedMessage')), { 404: errorResponse(404, 'No dead letter with this id') }),
    // Issue 7: fleet reads.
    '/api/v1/fleet/latest': getOperation('The newest reading of each machine (a loose index scan), with its age and a stale flag, in pages by machine id',
      pageParams(MAX_FLEET_LIMIT, DEFAULT_FLEET_LIMIT, 'Machines'), ok('Fleet', ref('FleetLatest'))),
    // Issue 12: plant-floor answers (openapi-plant.ts).
    ...plantPaths,
    ...alarmPaths,
    '/api/v1/machines/{id}/states': {
      get: {
        summary: 'Seconds per machine_state over a window, and utilization (share of time in fleet.running_states)',
        description: 'Each reading\'s state holds until the next reading, clipped to the window; the state at start_time is that of the ' +
          'last reading before it; the last reading\'s state holds until min(end_time, now). A state holds at most fleet.max_gap_seconds; ' +
          `the rest of a longer gap, and the time before the first reading, is no data. Window defaults as for /data; at most ${MAX_RANGE_DAYS} days.`,
        parameters: [
          idParam,
          timeQ('start_time', 'RFC 3339 with offset; default end_time - 1 h'),
          timeQ('end_time', 'RFC 3339 with offset; default now (or start_time + 1 h)'),
        ],
        responses: { 200: ok('Time per state', ref('MachineStates')), 400: E400, 401: E401, 500: E500, 503: E503 },
      },
    },
  },
} as const)

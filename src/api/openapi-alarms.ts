/** OpenAPI fragments of GET /api/v1/alarms (issue 12), spread into openapi.ts like openapi-plant.ts. */
import { ALARM_FIELDS, COMPARISONS, SEVERITIES } from '../config/schema.js'
import { MACHINE_ID_SCHEMA } from '../machine-id.js'
import { DEFAULT_ALARMS_LIMIT, MAX_ALARMS_LIMIT } from './alarms.js'
import { commonErrors, errorResponse, json, ref } from './openapi-errors.js'

const ts = { type: 'string', format: 'date-time', description: 'RFC 3339, UTC, microseconds' }
const q = (name: string, schema: unknown, description: string) => ({ name, in: 'query', required: false, schema, description })

const alarm = {
  type: 'object',
  required: ['id', 'machine_id', 'rule', 'severity', 'field', 'comparison', 'threshold', 'started_at', 'ended_at', 'active', 'peak_value'],
  properties: {
    id: { type: 'integer' },
    machine_id: { type: 'string' },
    rule: { type: 'string', description: 'Name of the rule in alarms.rules' },
    severity: { enum: SEVERITIES },
    field: { enum: ALARM_FIELDS },
    comparison: { enum: COMPARISONS },
    threshold: { type: 'number' },
    started_at: { ...ts, description: 'Reading time of the first reading of the breach' },
    ended_at: { type: ['string', 'null'], format: 'date-time', description: 'Reading time of the first reading past the clear level; null while active' },
    active: { type: 'boolean' },
    peak_value: { type: 'number', description: 'Most extreme value of the episode so far' },
  },
}

export const alarmSchemas = {
  Alarm: alarm,
  AlarmPage: {
    type: 'object',
    required: ['machine_id', 'active', 'start_time', 'end_time', 'limit', 'count', 'has_more', 'next_cursor', 'data'],
    properties: {
      machine_id: { type: ['string', 'null'] },
      active: { type: ['boolean', 'null'] },
      start_time: { type: ['string', 'null'], format: 'date-time' },
      end_time: { type: ['string', 'null'], format: 'date-time' },
      limit: { type: 'integer' },
      count: { type: 'integer' },
      has_more: { type: 'boolean' },
      next_cursor: { type: ['string', 'null'] },
      data: { type: 'array', items: ref('Alarm') },
    },
  },
}

export const alarmPaths = {
  '/api/v1/alarms': {
    get: {
      summary: 'Alarm episodes of the threshold rules (alarms.rules), newest first, in keyset pages',
      parameters: [
        q('active', { enum: ['true', 'false'] }, 'true: open episodes only; false: ended ones only; absent: both'),
        q('machine_id', MACHINE_ID_SCHEMA, 'One machine'),
        q('start_time', { type: 'string', format: 'date-time' }, 'Episodes still open or ended at or after this'),
        q('end_time', { type: 'string', format: 'date-time' }, 'Episodes started at or before this'),
        q('limit', { type: 'integer', minimum: 1, maximum: MAX_ALARMS_LIMIT, default: DEFAULT_ALARMS_LIMIT }, 'Episodes per page'),
        q('cursor', { type: 'string' }, 'next_cursor of the previous page (it carries the filters)'),
      ],
      responses: {
        200: { description: 'A page of episodes', content: json(ref('AlarmPage')) },
        ...commonErrors,
        400: errorResponse(400, 'A parameter or the cursor is invalid (the message names it)'),
      },
    },
  },
}

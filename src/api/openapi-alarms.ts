/** OpenAPI fragments of GET /api/v1/alarms (issue 12), spread into openapi.ts like openapi-plant.ts. */
import { ALARM_FIELDS, COMPARISONS, SEVERITIES } from '../config/schema.js'
import { MACHINE_ID_SCHEMA } from '../machine-id.js'
import { DEFAULT_ALARMS_LIMIT, MAX_ALARMS_LIMIT } from './alarms.js'
import { commonErrors, errorResponse, json, ref } from './openapi-errors.js'
import { keysetPage, pageParams, q } from './openapi-pages.js'

const ts = { type: 'string', format: 'date-time', description: 'RFC 3339, UTC, microseconds' }

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
  AlarmPage: keysetPage({
    machine_id: { type: ['string', 'null'] },
    active: { type: ['boolean', 'null'] },
    start_time: { type: ['string', 'null'], format: 'date-time' },
    end_time: { type: ['string', 'null'], format: 'date-time' },
  }, ref('Alarm')),
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
        ...pageParams(MAX_ALARMS_LIMIT, DEFAULT_ALARMS_LIMIT, 'Episodes', 'next_cursor of the previous page (it carries the filters)'),
      ],
      responses: {
        200: { description: 'A page of episodes', content: json(ref('AlarmPage')) },
        ...commonErrors,
        400: errorResponse(400, 'A parameter or the cursor is invalid (the message names it)'),
      },
    },
  },
}

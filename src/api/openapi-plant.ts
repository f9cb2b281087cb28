/**
 * OpenAPI fragments of the plant-floor routes (issue 12), spread into openapi.ts's document so that
 * file only gains two lines. Same conventions: errors as #/components/schemas/Error, times RFC 3339.
 */
import { MAX_FLEET_RANGE_DAYS } from './availability.js'
import { DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT } from './events.js'
import { MACHINE_ID_SCHEMA } from '../machine-id.js'
import { commonErrors, errorResponse, ok, ref } from './openapi-errors.js'
import { keysetPage, pageParams, q } from './openapi-pages.js'
import { MAX_RANGE_DAYS } from './params.js'

const ts = { type: 'string', format: 'date-time', description: 'RFC 3339, UTC, microseconds' }
const idParam = { name: 'id', in: 'path', required: true, schema: MACHINE_ID_SCHEMA }
const timeQ = (name: string, description: string) => q(name, { type: 'string', format: 'date-time' }, description)
const errors = {
  ...commonErrors,
  400: errorResponse(400, 'A parameter is invalid (the message names it), or the window is too long (range_too_large)'),
}

const measures = {
  planned_seconds: { type: 'number', description: 'Shift time minus breaks, inside the window and before now' },
  running_seconds: { type: 'number', description: 'Planned time in fleet.running_states' },
  stopped_seconds: { type: 'number', description: 'Planned time in any other state (null state included)' },
  no_data_seconds: { type: 'number', description: 'Planned time without a reading within fleet.max_gap_seconds' },
  availability: { type: ['number', 'null'], description: 'running_seconds / planned_seconds (OEE availability); null without planned time' },
  micro_stops: {
    type: 'object',
    required: ['count', 'seconds'],
    description: 'Stops shorter than plant.micro_stop_seconds that end with the machine running again (also inside stopped_seconds)',
    properties: { count: { type: 'integer' }, seconds: { type: 'number' } },
  },
}
const measureKeys = Object.keys(measures)
const period = {
  shift: { type: ['string', 'null'], description: 'Shift name (group=shift); null for group=day' },
  date: { type: 'string', format: 'date', description: 'Plant-local date the shift (or production day) starts' },
  start: ts,
  end: ts,
  ...measures,
}
const head = {
  start_time: ts,
  end_time: ts,
  effective_end_time: { ...ts, description: 'min(end_time, now)' },
  group: { enum: ['shift', 'day'] },
  time_zone: { type: 'string', description: 'plant.time_zone' },
  running_states: { type: 'array', items: { type: 'string' } },
  max_gap_seconds: { type: 'integer' },
  micro_stop_seconds: { type: 'integer' },
}

export const plantSchemas = {
  Availability: {
    type: 'object',
    required: ['machine_id', ...Object.keys(head), 'total', 'periods'],
    properties: {
      machine_id: { type: 'string' },
      ...head,
      total: { type: 'object', required: measureKeys, properties: measures },
      periods: { type: 'array', items: { type: 'object', required: Object.keys(period), properties: period } },
    },
  },
  FleetAvailability: {
    type: 'object',
    required: [...Object.keys(head), 'machines', 'periods'],
    properties: {
      ...head,
      machines: { type: 'array', items: { type: 'string' }, description: 'Every machine with readings' },
      periods: {
        type: 'array',
        items: {
          type: 'object',
          required: [...Object.keys(period), 'machines'],
          description: 'Measures summed over the machines (planned = per-machine planned × machines)',
          properties: {
            ...period,
            machines: { type: 'array', items: { type: 'object', required: ['machine_id', ...measureKeys], properties: { machine_id: { type: 'string' }, ...measures } } },
          },
        },
      },
    },
  },
  EventPage: keysetPage({
    machine_id: { type: 'string' },
    start_time: ts,
    end_time: ts,
    effective_end_time: { ...ts, description: 'min(end_time, now)' },
    offline_after_seconds: { type: 'integer' },
  }, {
    type: 'object',
    required: ['type', 'at', 'from', 'to', 'previous_seconds'],
    properties: {
      type: { enum: ['offline', 'online', 'state'] },
      at: ts,
      from: { type: ['string', 'null'], description: 'State before (offline: the last state; online: "offline")' },
      to: { type: ['string', 'null'], description: 'State after (offline: "offline")' },
      previous_seconds: { type: ['number', 'null'], description: 'Length of the span this event ends; null when it began before the look-back' },
    },
  }),
}

const windowParams = (maxDays: number) => [
  timeQ('start_time', 'RFC 3339 with offset; default: the plant-local midnight before end_time'),
  timeQ('end_time', `RFC 3339 with offset; default now. At most ${maxDays} days after start_time`),
  q('group', { enum: ['shift', 'day'], default: 'shift' }, 'Periods: shift occurrences, or plant-local production days'),
]

export const plantPaths = {
  '/api/v1/machines/{id}/availability': {
    get: {
      summary: 'Availability per shift or production day: planned, running, stopped, no-data seconds and micro stops',
      parameters: [idParam, ...windowParams(MAX_RANGE_DAYS)],
      responses: { 200: ok('Availability', ref('Availability')), ...errors },
    },
  },
  '/api/v1/fleet/availability': {
    get: {
      summary: 'Availability per period of every machine with readings, and summed over the fleet',
      parameters: windowParams(MAX_FLEET_RANGE_DAYS),
      responses: { 200: ok('Fleet availability', ref('FleetAvailability')), ...errors },
    },
  },
  '/api/v1/machines/{id}/events': {
    get: {
      summary: 'Offline, online and machine_state change events derived from stored readings, oldest first',
      parameters: [
        idParam,
        timeQ('start_time', 'RFC 3339 with offset; default end_time - 1 h'),
        timeQ('end_time', 'RFC 3339 with offset; default now (or start_time + 1 h)'),
        ...pageParams(MAX_EVENTS_LIMIT, DEFAULT_EVENTS_LIMIT, 'Events'),
      ],
      responses: { 200: ok('A page of events', ref('EventPage')), ...errors },
    },
  },
}

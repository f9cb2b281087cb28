/**
 * GET  /api/v1/machines       all machines, ordered by id
 * POST /api/v1/machines       register one (ajv-validated JSON; 201, 400, 409, 413, 415)
 * GET  /api/v1/machines/:id   one machine or 404
 *
 * POST takes the original design's Machine struct as its Go client marshals it: the read-only
 * created_at and last_updated are accepted and ignored, and Go's zero values for the optional
 * fields ("" and 0: the struct cannot say "unknown") are stored as NULL. The body is JSON whatever
 * the Content-Type says (the original never looked at it); router.ts refuses non-JSON types from
 * browsers.
 */
import { Ajv, type ErrorObject } from 'ajv'
import { MACHINE_ID_PATTERN } from '../machine-id.js'
import { insertMachine, notifyMachines, type NewMachine } from '../store/machines.js'
import { MACHINES_CHANNEL } from '../store/registry-listener.js'
import { ApiErrorCode, HttpError, readBody, tooLarge, type Exchange } from './http.js'
import type { HttpMetrics } from './http-metrics.js'
import type { MachineRegistry } from './machine-registry.js'
import type { Route } from './router.js'
import type { StoreAccess } from './store-access.js'

export const MAX_BODY_BYTES = 65_536

/** Free text: no NUL (PostgreSQL text cannot store it), bounded length. */
const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max, pattern: '^[^\\u0000]*$' }) as const
const int4 = (min: number) => ({ type: ['integer', 'null'], minimum: min, maximum: 2_147_483_647 }) as const
/** Fields the server sets; a client may send them back (the original struct marshals them), they are ignored. */
export const READ_ONLY_FIELDS = ['created_at', 'last_updated'] as const

export const newMachineSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'location'],
  properties: {
    id: { type: 'string', pattern: MACHINE_ID_PATTERN },
    name: text(256),
    location: text(256),
    controller_type: { ...text(128), minLength: 0, type: ['string', 'null'], description: '"" is stored as null' },
    max_spindle_speed_rpm: { ...int4(0), description: '0 is stored as null' },
    axis_count: { ...int4(0), description: '0 is stored as null' },
    created_at: { description: 'read-only: accepted and ignored' },
    last_updated: { description: 'read-only: accepted and ignored' },
  },
} as const

const validate = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true }).compile<NewMachine>(newMachineSchema)

function describe (e: ErrorObject | undefined): string {
  if (e === undefined) return 'body does not match the machine schema'
  const field = e.instancePath.slice(1).replaceAll('/', '.')
  if (e.keyword === 'required') return `${(e.params as { missingProperty: string }).missingProperty}: required`
  if (e.keyword === 'additionalProperties') return `${(e.params as { additionalProperty: string }).additionalProperty}: not a machine field`
  if (field === 'id' && e.keyword === 'pattern') return 'id: must be 1–128 characters of letters, digits, -, _ or .'
  if (e.keyword === 'pattern') return `${field}: must not contain NUL`
  return `${field === '' ? 'body' : field}: ${e.message ?? 'invalid'}`
}

const ID_RE = new RegExp(MACHINE_ID_PATTERN)

/** Reads answer from the registry's copy (machine-registry.ts); a POST invalidates it here and, by NOTIFY, everywhere. */
export function machineRoutes (store: StoreAccess, metrics: HttpMetrics, registry: MachineRegistry): Route[] {
  async function list (ex: Exchange): Promise<void> {
    ex.send(200, (await registry.get(store().db)).body)
  }

  async function get (ex: Exchange): Promise<void> {
    const id = ex.param(0, 'id')
    // An id that could never have been stored is simply not found (and never reaches the registry).
    const row = ID_RE.test(id) ? (await registry.get(store().db)).byId.get(id) : undefined
    if (row === undefined) throw new HttpError(ApiErrorCode.notFound, `no machine ${JSON.stringify(id.slice(0, 128))}`)
    ex.json(200, row)
  }

  async function create (ex: Exchange): Promise<void> {
    if (Number(ex.headers.contentLength) > MAX_BODY_BYTES) {
      metrics.refused.inc({ reason: 'body_too_large' })
      throw tooLarge(MAX_BODY_BYTES)
    }
    let body: Buffer
    try {
      body = await readBody(ex, MAX_BODY_BYTES)
    } catch (err) {
      if (err instanceof HttpError && err.status === 413) metrics.refused.inc({ reason: 'body_too_large' })
      throw err
    }
    let value: unknown
    try {
      value = JSON.parse(body.toString('utf8'))
    } catch {
      throw new HttpError(ApiErrorCode.invalidJson, 'body is not valid JSON')
    }
    if (!validate(value)) throw new HttpError(ApiErrorCode.validationFailed, describe(validate.errors?.[0]))
    const row = await insertMachine(store().db, {
      id: value.id,
      name: value.name,
      location: value.location,
      controller_type: value.controller_type === '' ? null : value.controller_type,
      max_spindle_speed_rpm: value.max_spindle_speed_rpm === 0 ? null : value.max_spindle_speed_rpm,
      axis_count: value.axis_count === 0 ? null : value.axis_count,
    })
    if (row === undefined) throw new HttpError(ApiErrorCode.conflict, `machine ${JSON.stringify(value.id)} already exists`)
    registry.invalidate()
    // Other instances drop their copy on the notification; if it is lost, theirs ages out (MAX_AGE_MS).
    await notifyMachines(store().db, MACHINES_CHANNEL, row.id).catch((err: unknown) => ex.log.warn({ err }, 'machine registry NOTIFY failed'))
    ex.json(201, row)
  }

  return [
    { method: 'GET', pattern: '/api/v1/machines', auth: true, handler: list },
    { method: 'POST', pattern: '/api/v1/machines', auth: true, handler: create },
    { method: 'GET', pattern: '/api/v1/machines/:id', auth: true, handler: get },
  ]
}

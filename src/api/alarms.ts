/**
 * GET /api/v1/alarms   alarm episodes (src/alarms/), newest first, in keyset pages.
 *
 * Filters: active (true = open, false = ended), machine_id, and a window start_time/end_time that an
 * episode overlaps (either end optional; none = all history, paged). A cursor carries the filters and
 * the position (started_at, id), so each episode appears on exactly one page while episodes open,
 * end or are added.
 */
import { alarmJson } from '../alarms/alarm-row.js'
import { MACHINE_ID_RULE, isMachineId } from '../machine-id.js'
import { listAlarms } from '../store/alarms.js'
import { badParam, sendRows, type Exchange } from './http.js'
import { cursorMicros, cursorParam, encodeCursor, enumParam, intParam, microsToIso, timeParam } from './params.js'
import type { Route } from './router.js'
import type { StoreAccess } from './store-access.js'

export const DEFAULT_ALARMS_LIMIT = 100
export const MAX_ALARMS_LIMIT = 1_000

interface AlarmCursor {
  readonly started: string
  readonly id: string
  readonly machineId: string | null
  readonly active: boolean | null
  readonly start: string | null
  readonly end: string | null
}

const optIso = (v: unknown): string | null | undefined => {
  if (v === '') return null
  const us = cursorMicros(v)
  return us === null ? undefined : microsToIso(us)
}

function checkCursor (v: Record<string, unknown>): AlarmCursor | null {
  const started = cursorMicros(v.a)
  const start = optIso(v.s)
  const end = optIso(v.e)
  if (v.v !== 1 || started === null || start === undefined || end === undefined) return null
  if (typeof v.i !== 'string' || !/^[0-9]{1,19}$/.test(v.i) || (v.m !== '' && !isMachineId(v.m))) return null
  if (v.x !== 't' && v.x !== 'f' && v.x !== '') return null
  return { started: microsToIso(started), id: v.i, machineId: v.m === '' ? null : v.m, active: v.x === '' ? null : v.x === 't', start, end }
}

export function alarmRoutes (store: StoreAccess): Route[] {
  async function list (ex: Exchange): Promise<void> {
    const limit = intParam(ex, 'limit', DEFAULT_ALARMS_LIMIT, 1, MAX_ALARMS_LIMIT)
    const cursor = cursorParam(ex, checkCursor)
    let filters: Omit<AlarmCursor, 'started' | 'id'>
    if (cursor !== undefined) {
      filters = cursor
    } else {
      const active = enumParam(ex, 'active', ['true', 'false'])
      const machineId = ex.query.get('machine_id') ?? ''
      if (machineId !== '' && !isMachineId(machineId)) throw badParam(`machine_id must be ${MACHINE_ID_RULE}`)
      const s = timeParam(ex, 'start_time')
      const e = timeParam(ex, 'end_time')
      if (s !== undefined && e !== undefined && s > e) throw badParam(`start_time (${microsToIso(s)}) is after end_time (${microsToIso(e)})`)
      filters = {
        machineId: machineId === '' ? null : machineId,
        active: active === undefined ? null : active === 'true',
        start: s === undefined ? null : microsToIso(s),
        end: e === undefined ? null : microsToIso(e),
      }
    }
    const rows = await listAlarms(store().db, {
      machineId: filters.machineId,
      active: filters.active,
      startIso: filters.start,
      endIso: filters.end,
      beforeStartedIso: cursor?.started ?? null,
      beforeId: cursor?.id ?? null,
      limit: limit + 1,
    })
    const more = rows.length > limit
    const page = more ? rows.slice(0, limit) : rows
    const last = page[page.length - 1]
    const next = more && last !== undefined
      ? encodeCursor({
        v: 1,
        a: last.started_at,
        i: last.id,
        m: filters.machineId ?? '',
        x: filters.active === null ? '' : filters.active ? 't' : 'f',
        s: filters.start ?? '',
        e: filters.end ?? '',
      })
      : null
    if (ex.aborted) return
    const str = (v: string | null): string => v === null ? 'null' : JSON.stringify(v)
    const head = `{"machine_id":${str(filters.machineId)},"active":${filters.active === null ? 'null' : String(filters.active)},` +
      `"start_time":${str(filters.start)},"end_time":${str(filters.end)},"limit":${limit},"count":${page.length},` +
      `"has_more":${more},"next_cursor":${next === null ? 'null' : `"${next}"`},"data":`
    await sendRows(ex, head, page, alarmJson)
  }

  return [{ method: 'GET', pattern: '/api/v1/alarms', auth: true, handler: list }]
}

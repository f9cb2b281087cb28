/**
 * The page's only door to the service: relative URLs (same origin, so the live feed's Origin check
 * passes), the bearer token from ?token= or localStorage, and the shapes of the routes it reads.
 */

/** A reading as /api/v1/fleet/latest, /machines/{id}/data and the live feed send it. */
export interface Reading {
  machine_id: string
  timestamp: string
  temperature: number | null
  spindle_speed: number | null
  spindle_load_percent: number | null
  feed_rate_actual?: number | null
  total_power_kw?: number | null
  active_program_line?: number | null
  machine_state: string | null
}

/** running_states: not sent by /fleet/latest yet; the page then learns them from the first /states answer. */
export interface FleetPage { stale_after_seconds: number, running_states?: string[], next_cursor?: string | null, data: Reading[] }
export interface MachineInfo { id: string, name: string, location: string }
export interface Bucket { bucket: string, temperature: number | null, spindle_load_percent: number | null, spindle_speed: number | null }
export interface StateShare { state: string | null, seconds: number, running: boolean }
export interface States {
  window_seconds: number
  no_data_seconds: number
  running_seconds: number
  running_states: string[]
  utilization_of_known: number | null
  states: StateShare[]
}

/** ?token= is kept in localStorage and taken out of the address bar (and so out of history). */
function takeToken (): string {
  const url = new URL(location.href)
  const given = url.searchParams.get('token')
  if (given === null) return localStorage.getItem('cnc-token') ?? ''
  localStorage.setItem('cnc-token', given)
  url.searchParams.delete('token')
  history.replaceState(null, '', url.pathname + url.search + url.hash)
  return given
}
export const token = takeToken()
export const authHeaders = (): Record<string, string> => token === '' ? {} : { Authorization: `Bearer ${token}` }

export async function api<T> (path: string): Promise<T> {
  const r = await fetch(path, { headers: authHeaders() })
  if (!r.ok) throw new Error(`${path.split('?')[0] ?? path}: HTTP ${r.status}`)
  return await r.json() as T
}

/** Rows of a list route, whether it answers a bare array or an envelope `{data: [...]}`. */
export function rowsOf<T> (body: T[] | { data: T[] }): T[] {
  return Array.isArray(body) ? body : body.data
}

export function liveUrl (): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  return `${scheme}://${location.host}/api/v1/live${token === '' ? '' : '?token=' + encodeURIComponent(token)}`
}

export const machinePath = (id: string): string => `/api/v1/machines/${encodeURIComponent(id)}`

/**
 * Plant-floor panel of the operator page (issue 12): active alarms (GET /api/v1/alarms?active=true,
 * then the live feed's alarm frames), machines offline with since when (from the readings the page
 * already has), and today's availability per shift per machine (GET /api/v1/fleet/availability, the
 * plant-local day so far). The machine view's recent events and alarms: showHistory().
 * Text goes in with textContent only: machine ids and states come from publishers.
 */
import { api, machinePath } from './api.js'

export interface Alarm {
  id: number
  machine_id: string
  rule: string
  severity: string
  field: string
  comparison: string
  threshold: number
  started_at: string
  ended_at: string | null
  active: boolean
  peak_value: number
}
interface AlarmPage { data: Alarm[] }
interface Measures { availability: number | null, running_seconds: number, planned_seconds: number }
interface FleetAvailability { periods: Array<{ shift: string | null, date: string, start: string, end: string, machines: Array<{ machine_id: string } & Measures> }> }
interface EventRow { type: string, at: string, from: string | null, to: string | null }
interface EventPage { data: EventRow[] }

const $ = (id: string): HTMLElement => document.getElementById(id) as HTMLElement
const el = (tag: string, text = '', cls = ''): HTMLElement => {
  const e = document.createElement(tag)
  e.textContent = text
  if (cls !== '') e.className = cls
  return e
}
const time = (iso: string): string => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
const hm = (iso: string): string => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
const dateTime = (iso: string): string => new Date(iso).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
const ago = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000))
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min` : s < 86_400 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min` : `${Math.floor(s / 86_400)} d`
}
const alarmText = (a: Alarm): string => `${a.rule}: ${a.field} ${a.comparison} ${a.threshold} (peak ${Math.round(a.peak_value * 10) / 10})`

export class PlantPanel {
  readonly #active = new Map<number, Alarm>()
  readonly #lastSeen = new Map<string, number>()
  #staleAfterMs = 60_000

  setStaleAfter (seconds: number): void { this.#staleAfterMs = seconds * 1000 }

  reading (machineId: string, timestamp: string): void {
    const ms = Date.parse(timestamp)
    if (ms > (this.#lastSeen.get(machineId) ?? -Infinity)) this.#lastSeen.set(machineId, ms)
  }

  async loadAlarms (): Promise<void> {
    const page = await api<AlarmPage>('/api/v1/alarms?active=true&limit=200')
    this.#active.clear()
    for (const a of page.data) this.#active.set(a.id, a)
    this.#paintAlarms()
  }

  /** A live-feed alarm frame. */
  alarm (event: string, a: Alarm): void {
    if (event === 'opened' && a.active) this.#active.set(a.id, a)
    else this.#active.delete(a.id)
    this.#paintAlarms()
  }

  #paintAlarms (): void {
    const list = $('alarms-active')
    const rows = [...this.#active.values()].sort((x, y) => y.started_at.localeCompare(x.started_at))
    $('alarms-count').textContent = String(rows.length)
    list.replaceChildren(...rows.map((a) => {
      const li = el('li', '', `sev-${a.severity}`)
      li.dataset.machine = a.machine_id
      const link = el('a', a.machine_id)
      link.setAttribute('href', '#machine=' + encodeURIComponent(a.machine_id))
      li.append(link, el('span', ' ' + alarmText(a)), el('small', ` since ${time(a.started_at)}`, 'muted'))
      return li
    }))
    if (rows.length === 0) list.append(el('li', 'none', 'muted'))
  }

  /** Machines whose newest reading is older than fleet.stale_after_seconds, longest silent last. */
  paintOffline (): void {
    const now = Date.now()
    const rows = [...this.#lastSeen].filter(([, ms]) => now - ms > this.#staleAfterMs).sort((a, b) => b[1] - a[1])
    $('offline-count-plant').textContent = String(rows.length)
    const list = $('offline-list')
    list.replaceChildren(...rows.slice(0, 50).map(([id, ms]) => {
      const li = el('li')
      li.dataset.machine = id
      const link = el('a', id)
      link.setAttribute('href', '#machine=' + encodeURIComponent(id))
      li.append(link, el('small', ` since ${dateTime(new Date(ms).toISOString())} (${ago(now - ms)})`, 'muted'))
      return li
    }))
    if (rows.length === 0) list.append(el('li', 'none', 'muted'))
  }

  /** Today's shifts so far (plant-local day: the route's default window), availability per machine. */
  async loadAvailability (): Promise<void> {
    const r = await api<FleetAvailability>('/api/v1/fleet/availability?group=shift')
    const periods = r.periods
    const machines = [...new Set(periods.flatMap((p) => p.machines.map((m) => m.machine_id)))].sort()
    const head = el('tr')
    head.append(el('th', 'Machine'), ...periods.map((p) => el('th', `${p.shift ?? p.date} ${hm(p.start)}–${hm(p.end)}`, 'num')))
    const body = machines.map((id) => {
      const tr = el('tr')
      tr.dataset.avail = id
      tr.append(el('td', id))
      for (const p of periods) {
        const m = p.machines.find((x) => x.machine_id === id)
        const a = m?.availability ?? null
        const td = el('td', a === null ? '–' : `${Math.round(a * 100)} %`, 'num')
        if (a !== null) td.style.setProperty('--a', String(a))
        tr.append(td)
      }
      return tr
    })
    const table = $('availability')
    table.replaceChildren(el('thead'), el('tbody'))
    table.firstElementChild?.append(head)
    table.lastElementChild?.append(...body)
    $('availability-empty').hidden = machines.length > 0
  }
}

/** The machine view's recent events (last hour) and its latest alarms. */
export async function showHistory (id: string): Promise<void> {
  const [events, alarms] = await Promise.all([
    api<EventPage>(machinePath(id) + '/events?limit=1000'),
    api<AlarmPage>('/api/v1/alarms?limit=10&machine_id=' + encodeURIComponent(id)),
  ])
  const ev = $('m-events')
  const recent = events.data.slice(-10).reverse()
  ev.replaceChildren(...recent.map((e) => el('li', `${time(e.at)} ${e.type}: ${e.from ?? '–'} → ${e.to ?? '–'}`)))
  if (recent.length === 0) ev.append(el('li', 'no events in the last hour', 'muted'))
  const al = $('m-alarms')
  al.replaceChildren(...alarms.data.map((a) => el('li', `${dateTime(a.started_at)}${a.ended_at === null ? ' (active)' : '–' + time(a.ended_at)} ${alarmText(a)}`, `sev-${a.severity}`)))
  if (alarms.data.length === 0) al.append(el('li', 'no alarms', 'muted'))
}

/**
 * The fleet table and its summary counts.
 *
 * Every machine falls in one category, decided in this order:
 *   offline  its newest reading is older than fleet.stale_after_seconds (or it never reported)
 *   alarm    machine_state looks like an alarm (ALARM, ERROR, FAULT, EMERGENCY, E-STOP …)
 *   running  machine_state is one of fleet.running_states (RUNNING until the API tells otherwise)
 *   stopped  anything else (IDLE, SETUP, STOPPED, no state)
 *
 * Rows needing attention come first: alarm, stopped, machines that went offline within the last
 * hour, then running; ids in order within each. Machines offline for longer (or never heard from)
 * sit in a collapsed group of their own, so a retired machine does not push live ones down.
 *
 * Live readings only mark a machine dirty; one animation frame applies them, so a feed of
 * thousands of readings a second costs one DOM pass per frame, and rows move only when a
 * machine changes category.
 */
import type { MachineInfo, Reading } from './api.js'

export const CATEGORIES = ['alarm', 'stopped', 'offline', 'running'] as const
export type Category = typeof CATEGORIES[number]

const ALARM = /ALARM|ERR|FAULT|EMERG|E-?STOP|CRASH/i
export const isAlarm = (state: string | null): boolean => state !== null && ALARM.test(state)
/** Offline machines quiet for longer than this leave the main table for the collapsed group. */
export const LONG_OFFLINE_SECONDS = 3_600
const COLUMNS = ['machine', 'state', 'temperature', 'spindle_load_percent', 'spindle_speed', 'total_power_kw', 'last_seen'] as const

interface Entry {
  readonly id: string
  info: MachineInfo | undefined
  reading: Reading | undefined
  readingMs: number
  category: Category
  longOffline: boolean
  readonly row: HTMLTableRowElement
  readonly cells: Record<typeof COLUMNS[number], HTMLTableCellElement>
}

const fmt = (v: number | null | undefined, digits = 1): string => v === null || v === undefined ? '–' : v.toFixed(digits)
/** Writes only changes: most repaints (the once-a-second age pass) change one cell of a row. */
const setText = (el: HTMLElement, text: string): void => { if (el.textContent !== text) el.textContent = text }

export function ageText (secs: number, ms: number): string {
  if (!Number.isFinite(secs)) return 'never'
  if (secs < 90) return `${secs.toFixed(0)} s ago`
  if (secs < 5_400) return `${(secs / 60).toFixed(0)} min ago`
  if (secs < 172_800) return `${(secs / 3600).toFixed(0)} h ago`
  return new Date(ms).toISOString().slice(0, 10)
}

export class Fleet {
  readonly #entries = new Map<string, Entry>()
  readonly #dirty = new Set<Entry>()
  readonly #main: HTMLTableSectionElement
  readonly #offline: HTMLTableSectionElement
  readonly #onSelect: (id: string) => void
  #staleAfter = 60
  #running = new Set(['RUNNING'])
  #selected: string | null = null
  #resort = true
  #queued = false
  /** Called after the selected machine's row was repainted (once per frame at most). */
  onSelectedPaint: (category: Category, reading: Reading | undefined) => void = () => {}

  constructor (main: HTMLTableSectionElement, offline: HTMLTableSectionElement, onSelect: (id: string) => void) {
    this.#main = main
    this.#offline = offline
    this.#onSelect = onSelect
  }

  setStaleAfter (seconds: number): void {
    if (seconds === this.#staleAfter) return
    this.#staleAfter = seconds
    this.#markAll()
  }

  setRunningStates (states: readonly string[]): void {
    this.#running = new Set(states)
    this.#markAll()
  }

  get (id: string): { reading: Reading | undefined, info: MachineInfo | undefined, category: Category } | undefined {
    const e = this.#entries.get(id)
    return e === undefined ? undefined : { reading: e.reading, info: e.info, category: e.category }
  }

  /** Applies a reading unless a newer one of the same machine is already shown. */
  reading (r: Reading): void {
    const e = this.#entry(r.machine_id)
    const ms = Date.parse(r.timestamp)
    if (!(ms >= e.readingMs)) return
    e.reading = r
    e.readingMs = ms
    this.#mark(e)
  }

  machine (info: MachineInfo): void {
    const e = this.#entry(info.id)
    e.info = info
    this.#mark(e)
  }

  select (id: string | null): void {
    this.#selected = id
    for (const e of this.#entries.values()) {
      const on = e.id === id
      e.row.classList.toggle('selected', on)
      e.row.setAttribute('aria-selected', String(on))
    }
    const sel = id === null ? undefined : this.#entries.get(id)
    if (sel === undefined) return
    if (sel.longOffline) (this.#offline.closest('details') as HTMLDetailsElement).open = true
    this.#mark(sel)
  }

  /** Re-evaluates ages (call once a second): a quiet machine turns offline without a message. */
  tick (): void { this.#markAll() }

  #entry (id: string): Entry {
    let e = this.#entries.get(id)
    if (e !== undefined) return e
    const row = document.createElement('tr')
    row.dataset.machine = id
    row.tabIndex = 0
    const cells = {} as Entry['cells']
    for (const c of COLUMNS) {
      const td = document.createElement('td')
      td.dataset.field = c
      row.append(td)
      cells[c] = td
    }
    row.addEventListener('click', () => this.#onSelect(id))
    row.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); this.#onSelect(id) } })
    row.setAttribute('aria-selected', String(id === this.#selected))
    row.classList.toggle('selected', id === this.#selected)
    e = { id, info: undefined, reading: undefined, readingMs: -Infinity, category: 'offline', longOffline: true, row, cells }
    this.#entries.set(id, e)
    this.#resort = true
    return e
  }

  #mark (e: Entry): void {
    this.#dirty.add(e)
    this.#schedule()
  }

  #markAll (): void {
    for (const e of this.#entries.values()) this.#dirty.add(e)
    this.#schedule()
  }

  #schedule (): void {
    if (this.#queued) return
    this.#queued = true
    requestAnimationFrame(() => { this.#queued = false; this.#render() })
  }

  #render (): void {
    const now = Date.now()
    for (const e of this.#dirty) this.#paint(e, now)
    this.#dirty.clear()
    if (this.#resort) this.#sort()
    this.#counts()
  }

  #paint (e: Entry, now: number): void {
    const r = e.reading
    const secs = Math.max(0, (now - e.readingMs) / 1000)
    const state = r?.machine_state ?? null
    const category: Category = !(secs <= this.#staleAfter) ? 'offline' : isAlarm(state) ? 'alarm' : state !== null && this.#running.has(state) ? 'running' : 'stopped'
    const longOffline = category === 'offline' && !(secs <= LONG_OFFLINE_SECONDS)
    if (category !== e.category || longOffline !== e.longOffline) this.#resort = true
    e.category = category
    e.longOffline = longOffline
    e.row.dataset.category = category
    e.row.classList.toggle('stale', category === 'offline')
    const c = e.cells
    if (c.machine.firstChild === null) {
      const sub = document.createElement('small')
      c.machine.append(e.id, ' ', sub)
    }
    setText(c.machine.lastChild as HTMLElement, e.info === undefined ? '' : e.info.name === e.id ? e.info.location : `${e.info.name} · ${e.info.location}`)
    if (c.state.firstChild === null) c.state.append(document.createElement('span'))
    const badge = c.state.firstChild as HTMLElement
    badge.className = `state cat-${category}`
    setText(badge, r === undefined ? 'no data' : state ?? '–')
    setText(c.temperature, fmt(r?.temperature))
    setText(c.spindle_load_percent, fmt(r?.spindle_load_percent))
    c.spindle_load_percent.style.setProperty('--load', `${Math.max(0, Math.min(100, r?.spindle_load_percent ?? 0))}%`)
    setText(c.spindle_speed, fmt(r?.spindle_speed, 0))
    setText(c.total_power_kw, fmt(r?.total_power_kw))
    setText(c.last_seen, ageText(secs, e.readingMs))
    c.last_seen.title = r?.timestamp ?? ''
    if (e.id === this.#selected) this.onSelectedPaint(category, r)
  }

  #sort (): void {
    this.#resort = false
    const rank = (e: Entry): number => CATEGORIES.indexOf(e.category)
    const all = [...this.#entries.values()].sort((a, b) => rank(a) - rank(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    for (const e of all) (e.longOffline ? this.#offline : this.#main).append(e.row)
  }

  #counts (): void {
    const n: Record<Category, number> = { alarm: 0, stopped: 0, offline: 0, running: 0 }
    let long = 0
    for (const e of this.#entries.values()) {
      n[e.category]++
      if (e.longOffline) long++
    }
    for (const c of CATEGORIES) {
      const el = document.querySelector<HTMLElement>(`[data-count="${c}"]`)
      if (el !== null && el.textContent !== String(n[c])) el.textContent = String(n[c])
    }
    const total = document.getElementById('fleet-count')
    if (total !== null) total.textContent = `${this.#entries.size} machines`
    const longEl = document.getElementById('offline-count')
    if (longEl !== null) longEl.textContent = String(long)
    document.getElementById('offline-group')?.toggleAttribute('hidden', long === 0)
  }
}

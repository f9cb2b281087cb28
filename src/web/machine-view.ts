/**
 * The selected machine: its latest values, where its last hour went (time per state from
 * GET /machines/{id}/states) and CHART_SPAN_MS of temperature, spindle load and speed (history from
 * the bucket API, then live readings).
 *
 * Utilization is running time over the time the machine was known: the states route counts the
 * time before its first reading, and gaps longer than fleet.max_gap_seconds, as no data, and
 * utilization_of_known leaves that out. "2 % over the last hour" for a machine that started
 * reporting a minute ago and has run since is thus shown as 100 % of 1 min.
 */
import { api, machinePath, rowsOf, type Bucket, type MachineInfo, type Reading, type States } from './api.js'
import { isAlarm, type Category } from './fleet.js'
import { TimeChart, clock } from './time-chart.js'

export const CHART_SPAN_MS = 10 * 60_000
const BUCKET = '5s'
const STATES_EVERY_MS = 30_000

interface Sample { temperature: number | null, spindle_load_percent: number | null, spindle_speed: number | null }

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const fmt = (v: number | null | undefined, digits = 1): string => v === null || v === undefined ? '–' : v.toFixed(digits)

export function duration (secs: number): string {
  if (secs < 90) return `${secs.toFixed(0)} s`
  if (secs < 5_400) return `${(secs / 60).toFixed(0)} min`
  return `${(secs / 3600).toFixed(1)} h`
}

export class MachineView {
  readonly #charts: { temperature: TimeChart, load: TimeChart, speed: TimeChart }
  #id: string | null = null
  #statesTimer: ReturnType<typeof setInterval> | undefined
  /** Learns fleet.running_states from the first states answer. */
  onRunningStates: (states: string[]) => void = () => {}

  constructor () {
    const sync = 'machine-view'
    this.#charts = {
      temperature: new TimeChart($('chart-temperature'), CHART_SPAN_MS, { label: 'Temperature', unit: '°C', color: '#cf222e', digits: 1 }, sync),
      load: new TimeChart($('chart-load'), CHART_SPAN_MS, { label: 'Spindle load', unit: '%', color: '#0969da', digits: 1 }, sync),
      speed: new TimeChart($('chart-speed'), CHART_SPAN_MS, { label: 'Spindle speed', unit: 'rpm', color: '#1a7f37', digits: 0 }, sync),
    }
    setInterval(() => { for (const c of Object.values(this.#charts)) c.tick() }, 1_000)
  }

  get selected (): string | null { return this.#id }

  async show (id: string | null, info: MachineInfo | undefined): Promise<void> {
    this.#id = id
    clearInterval(this.#statesTimer)
    document.body.classList.toggle('has-selection', id !== null)
    $('machine-section').hidden = id === null
    if (id === null) return
    $('machine-id').textContent = id
    $('machine-info').textContent = info === undefined ? '' : [info.name, info.location].filter((s) => s !== '' && s !== id).join(' · ')
    $('util-text').textContent = 'utilization: loading…'
    $('util-bar').replaceChildren()
    $('util-legend').replaceChildren()
    for (const c of Object.values(this.#charts)) c.reset()
    this.#statesTimer = setInterval(() => { this.#loadStates(id).catch(() => {}) }, STATES_EVERY_MS)
    const end = new Date()
    const start = new Date(end.getTime() - CHART_SPAN_MS)
    try {
      const q = `bucket=${BUCKET}&agg=avg&start_time=${start.toISOString()}&end_time=${end.toISOString()}`
      const hist = rowsOf(await api<Bucket[] | { data: Bucket[] }>(`${machinePath(id)}/data?${q}`))
      if (this.#id === id) for (const b of hist) this.#plot(Date.parse(b.bucket), b)
    } catch (err) {
      $('util-text').textContent = (err as Error).message
    }
    await this.#loadStates(id)
  }

  /** The selected machine's newest reading and category, as the fleet table shows them. */
  latest (category: Category, r: Reading | undefined): void {
    $('m-state').className = `state badge cat-${category}`
    $('m-state').textContent = r === undefined ? 'no data' : r.machine_state ?? '–'
    $('m-age').textContent = r === undefined ? '' : `seen ${clock(Date.parse(r.timestamp) / 1000, true)}`
    if (r === undefined) return
    $('m-temperature').textContent = fmt(r.temperature)
    $('m-load').textContent = fmt(r.spindle_load_percent)
    $('m-speed').textContent = fmt(r.spindle_speed, 0)
    $('m-feed').textContent = fmt(r.feed_rate_actual, 0)
    $('m-power').textContent = fmt(r.total_power_kw)
    $('m-line').textContent = r.active_program_line === null || r.active_program_line === undefined ? '–' : String(r.active_program_line)
  }

  live (r: Reading): void {
    if (r.machine_id !== this.#id) return
    this.#plot(Date.parse(r.timestamp), r)
  }

  #plot (ms: number, s: Sample): void {
    this.#charts.temperature.add(ms, s.temperature)
    this.#charts.load.add(ms, s.spindle_load_percent)
    this.#charts.speed.add(ms, s.spindle_speed)
  }

  async #loadStates (id: string): Promise<void> {
    let st: States
    try {
      st = await api<States>(`${machinePath(id)}/states`)
    } catch (err) {
      if (this.#id === id) $('util-text').textContent = `utilization: ${(err as Error).message}`
      return
    }
    if (this.#id !== id) return
    this.onRunningStates(st.running_states)
    const known = Math.max(0, st.window_seconds - st.no_data_seconds)
    const text = $('util-text')
    text.dataset.utilization = st.utilization_of_known === null ? '' : String(st.utilization_of_known)
    text.replaceChildren()
    if (st.utilization_of_known === null) {
      text.textContent = `no data in the last ${duration(st.window_seconds)}`
    } else {
      const b = document.createElement('b')
      b.textContent = `${(st.utilization_of_known * 100).toFixed(1)} %`
      text.append('running ', b, ` of the ${duration(known)} it reported in the last ${duration(st.window_seconds)}`)
    }
    this.#stateBar(st)
  }

  /** One stacked bar over the window: each state's share, then no data, longest first. */
  #stateBar (st: States): void {
    const bar = $('util-bar')
    const legend = $('util-legend')
    bar.replaceChildren()
    legend.replaceChildren()
    const parts = [...st.states.map((s) => ({ label: s.state ?? 'no state', seconds: s.seconds, cls: s.running ? 'cat-running' : isAlarm(s.state) ? 'cat-alarm' : 'cat-stopped' })),
      { label: 'no data', seconds: st.no_data_seconds, cls: 'cat-nodata' }]
    for (const p of parts) {
      if (p.seconds <= 0 || st.window_seconds <= 0) continue
      const seg = document.createElement('span')
      seg.className = p.cls
      seg.style.flexGrow = String(p.seconds)
      seg.title = `${p.label}: ${duration(p.seconds)}`
      bar.append(seg)
      const item = document.createElement('span')
      item.className = p.cls
      item.textContent = `${p.label} ${duration(p.seconds)}`
      legend.append(item)
    }
  }
}

/**
 * The operator page: fleet overview (GET /api/v1/fleet/latest, then the live feed), one machine's
 * charts of the last minutes (bucket API for history, live feed for new points) and pipeline
 * health (GET /metrics, polled). With http.auth_token set, the token comes from ?token= or the
 * form at the bottom (kept in localStorage) and goes out as a bearer header or ?token= (WebSocket).
 */
import { LineChart } from './chart.js'

interface Reading {
  machine_id: string
  timestamp: string
  temperature: number | null
  spindle_speed: number | null
  spindle_load_percent: number | null
  machine_state: string | null
}
interface FleetPage { stale_after_seconds: number, next_cursor: string | null, data: Reading[] }
/** fleet/latest pages the page loads at most (5,000 machines each). */
const MAX_FLEET_PAGES = 4
interface Bucket { bucket: string, temperature: number | null, spindle_load_percent: number | null, spindle_speed: number | null }

const CHART_SPAN_MS = 10 * 60_000
const FLEET_REFRESH_MS = 15_000
const HEALTH_EVERY_MS = 2_000
const FIELDS = ['machine', 'state', 'temperature', 'spindle_load_percent', 'spindle_speed', 'last_seen'] as const

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const query = new URLSearchParams(location.search)
const token = query.get('token') ?? localStorage.getItem('cnc-token') ?? ''
const authHeaders = (): Record<string, string> => token === '' ? {} : { Authorization: `Bearer ${token}` }

async function api<T> (path: string): Promise<T> {
  const r = await fetch(path, { headers: authHeaders() })
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`)
  return await r.json() as T
}

const fmt = (v: number | null, digits = 1): string => v === null || v === undefined ? '–' : v.toFixed(digits)

interface Entry { reading: Reading, readingMs: number, readonly row: HTMLTableRowElement, readonly cells: Record<string, HTMLTableCellElement> }
const machines = new Map<string, Entry>()
let staleAfterSeconds = 60
let selected: string | null = null

function rowFor (id: string): Entry {
  const existing = machines.get(id)
  if (existing !== undefined) return existing
  const row = document.createElement('tr')
  row.dataset.machine = id
  const cells: Record<string, HTMLTableCellElement> = {}
  for (const f of FIELDS) {
    const td = document.createElement('td')
    td.dataset.field = f
    row.append(td)
    cells[f] = td
  }
  cells.machine!.textContent = id
  row.addEventListener('click', () => { location.hash = 'machine=' + encodeURIComponent(id) })
  const body = $<HTMLTableElement>('fleet').tBodies[0]!
  const after = [...body.rows].find((r) => (r.dataset.machine ?? '') > id)
  body.insertBefore(row, after ?? null)
  const entry: Entry = { reading: { machine_id: id, timestamp: '', temperature: null, spindle_speed: null, spindle_load_percent: null, machine_state: null }, readingMs: -Infinity, row, cells }
  machines.set(id, entry)
  $('fleet-count').textContent = `${machines.size} machines`
  return entry
}

function show (r: Reading, flash: boolean): void {
  const e = rowFor(r.machine_id)
  const ms = Date.parse(r.timestamp)
  if (ms < e.readingMs) return
  e.reading = r
  e.readingMs = ms
  const state = r.machine_state ?? '–'
  e.cells.state!.textContent = state
  e.cells.state!.className = `state state-${state.replace(/[^A-Za-z0-9_-]/g, '')}`
  e.cells.temperature!.textContent = fmt(r.temperature)
  e.cells.spindle_load_percent!.textContent = fmt(r.spindle_load_percent)
  e.cells.spindle_speed!.textContent = fmt(r.spindle_speed, 0)
  age(e, Date.now())
  if (flash) {
    // Restart the CSS animation: remove, force a style flush, add again.
    e.row.classList.remove('flash')
    if (e.row.offsetWidth >= 0) e.row.classList.add('flash')
  }
}

function age (e: Entry, now: number): void {
  const secs = Math.max(0, (now - e.readingMs) / 1000)
  e.cells.last_seen!.textContent = !Number.isFinite(secs) ? '–' : secs < 90 ? `${secs.toFixed(0)} s ago` : secs < 5400 ? `${(secs / 60).toFixed(0)} min ago` : new Date(e.readingMs).toISOString().replace('T', ' ').slice(0, 19)
  e.row.classList.toggle('stale', secs > staleAfterSeconds)
}

async function loadFleet (): Promise<void> {
  try {
    let cursor: string | null = null
    for (let n = 0; n < MAX_FLEET_PAGES && (n === 0 || cursor !== null); n++) {
      const page: FleetPage = await api<FleetPage>('/api/v1/fleet/latest?limit=5000' + (cursor === null ? '' : '&cursor=' + cursor))
      staleAfterSeconds = page.stale_after_seconds
      for (const r of page.data) show(r, false)
      cursor = page.next_cursor
    }
    $('fleet-error').hidden = true
  } catch (err) {
    $('fleet-error').textContent = `fleet: ${(err as Error).message}`
    $('fleet-error').hidden = false
  }
}

const charts = {
  temperature: new LineChart($<HTMLCanvasElement>('chart-temperature'), CHART_SPAN_MS, '#cf222e'),
  load: new LineChart($<HTMLCanvasElement>('chart-load'), CHART_SPAN_MS, '#0969da'),
  speed: new LineChart($<HTMLCanvasElement>('chart-speed'), CHART_SPAN_MS, '#1a7f37'),
}

function plot (ms: number, r: { temperature: number | null, spindle_load_percent: number | null, spindle_speed: number | null }): void {
  charts.temperature.add(ms, r.temperature)
  charts.load.add(ms, r.spindle_load_percent)
  charts.speed.add(ms, r.spindle_speed)
}

async function select (id: string | null): Promise<void> {
  selected = id
  for (const e of machines.values()) e.row.classList.toggle('selected', e.reading.machine_id === id)
  $('machine-section').hidden = id === null
  if (id === null) return
  $('machine-id').textContent = id
  $('machine-util').textContent = ''
  for (const c of Object.values(charts)) c.reset()
  const end = new Date()
  const start = new Date(end.getTime() - CHART_SPAN_MS)
  const base = `/api/v1/machines/${encodeURIComponent(id)}`
  try {
    const hist = await api<{ data: Bucket[] }>(`${base}/data?bucket=5s&agg=avg&start_time=${start.toISOString()}&end_time=${end.toISOString()}`)
    if (selected === id) for (const b of hist.data) plot(Date.parse(b.bucket), b)
    const st = await api<{ utilization: number | null }>(`${base}/states`)
    if (selected === id && st.utilization !== null) $('machine-util').textContent = `utilization ${(st.utilization * 100).toFixed(1)} % over the last hour`
  } catch (err) {
    $('machine-util').textContent = (err as Error).message
  }
}

function fromHash (): void {
  const m = /^#machine=(.+)$/.exec(location.hash)
  select(m === null ? null : decodeURIComponent(m[1]!)).catch(() => {})
}

function connectLive (delay = 500): void {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/live${token === '' ? '' : '?token=' + encodeURIComponent(token)}`
  const ws = new WebSocket(url)
  const status = $('live-status')
  ws.onopen = () => {
    ws.send(JSON.stringify({ subscribe: '*' }))
  }
  ws.onmessage = (ev: MessageEvent<string>) => {
    const msg = JSON.parse(ev.data) as { type: string, data?: Reading[], machines?: unknown }
    if (msg.type === 'subscribed') {
      status.textContent = 'live'
      status.className = 'pill on'
      status.dataset.status = 'live'
      delay = 500
    } else if (msg.type === 'readings') {
      for (const r of msg.data ?? []) {
        show(r, true)
        if (r.machine_id === selected) plot(Date.parse(r.timestamp), r)
      }
    }
  }
  ws.onclose = () => {
    status.textContent = 'live: reconnecting'
    status.className = 'pill off'
    status.dataset.status = 'reconnecting'
    setTimeout(() => connectLive(Math.min(delay * 2, 10_000)), delay)
  }
}

/** Sums of the Prometheus samples we show, by metric name (labels summed). */
function parseMetrics (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const sp = line.lastIndexOf(' ')
    const brace = line.indexOf('{')
    const name = line.slice(0, brace >= 0 && brace < sp ? brace : sp)
    out.set(name, (out.get(name) ?? 0) + Number(line.slice(sp + 1)))
  }
  return out
}

let last: { at: number, m: Map<string, number> } | undefined
async function health (): Promise<void> {
  const r = await fetch('/metrics', { headers: authHeaders() })
  if (!r.ok) return
  const m = parseMetrics(await r.text())
  const at = performance.now()
  const get = (n: string): number => m.get(n) ?? 0
  if (last !== undefined) {
    const secs = (at - last.at) / 1000
    const d = (n: string): number => get(n) - (last!.m.get(n) ?? 0)
    $('h-rate').textContent = (d('cnc_messages_committed_total') / secs).toFixed(0)
    $('h-rejects').textContent = (d('cnc_messages_rejected_total') / secs).toFixed(1)
    const n = d('cnc_publish_to_commit_seconds_count')
    $('h-lag').textContent = n > 0 ? `${(d('cnc_publish_to_commit_seconds_sum') / n * 1000).toFixed(0)} ms` : '–'
  }
  $('h-pending').textContent = get('cnc_consumer_pending_messages').toFixed(0)
  $('h-clients').textContent = get('cnc_live_clients').toFixed(0)
  last = { at, m }
}

$<HTMLFormElement>('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  localStorage.setItem('cnc-token', $<HTMLInputElement>('token').value)
  location.reload()
})

loadFleet().then(fromHash).catch(() => {})
window.addEventListener('hashchange', fromHash)
connectLive()
setInterval(() => { loadFleet().catch(() => {}) }, FLEET_REFRESH_MS)
setInterval(() => { const now = Date.now(); for (const e of machines.values()) age(e, now) }, 1_000)
setInterval(() => { health().catch(() => {}) }, HEALTH_EVERY_MS)
health().catch(() => {})

/**
 * The operator page: summary counts and the fleet (GET /api/v1/fleet/latest and /api/v1/machines,
 * then the live feed), the selected machine beside it (machine-view.ts) and pipeline health
 * (health.ts). The selection lives in the URL hash (#machine=<id>), so a view can be linked.
 * With http.auth_token set, the token comes from ?token= or the form at the bottom (kept in
 * localStorage) and goes out as a bearer header, or ?token= on the WebSocket.
 */
import { api, liveUrl, rowsOf, type FleetPage, type MachineInfo, type Reading } from './api.js'
import { Fleet } from './fleet.js'
import { HEALTH_EVERY_MS, pollHealth } from './health.js'
import { MachineView } from './machine-view.js'
import { PlantPanel, showHistory, type Alarm } from './plant.js'

/** fleet/latest pages the page loads at most (5,000 machines each). */
const MAX_FLEET_PAGES = 4
const FLEET_REFRESH_MS = 15_000
const MACHINES_REFRESH_MS = 60_000

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T

const view = new MachineView()
const plant = new PlantPanel()
const fleet = new Fleet($<HTMLTableElement>('fleet').tBodies[0]!, $<HTMLTableElement>('fleet-offline').tBodies[0]!,
  (id) => { location.hash = 'machine=' + encodeURIComponent(id) })
fleet.onSelectedPaint = (category, r) => view.latest(category, r)
let runningKey = ''
const runningStates = (states: string[]): void => {
  const key = states.join(',')
  if (key !== runningKey) { runningKey = key; fleet.setRunningStates(states) }
}
view.onRunningStates = runningStates

function problem (what: string, err: unknown): void {
  const el = $('fleet-error')
  el.textContent = `${what}: ${(err as Error).message}`
  el.hidden = false
}

async function loadFleet (): Promise<void> {
  try {
    let cursor: string | null = null
    for (let n = 0; n < MAX_FLEET_PAGES && (n === 0 || cursor !== null); n++) {
      const page: FleetPage = await api<FleetPage>('/api/v1/fleet/latest?limit=5000' + (cursor === null ? '' : '&cursor=' + encodeURIComponent(cursor)))
      fleet.setStaleAfter(page.stale_after_seconds)
      plant.setStaleAfter(page.stale_after_seconds)
      if (page.running_states !== undefined) runningStates(page.running_states)
      for (const r of page.data) { fleet.reading(r); plant.reading(r.machine_id, r.timestamp) }
      cursor = page.next_cursor ?? null
    }
    $('fleet-error').hidden = true
  } catch (err) {
    problem('fleet', err)
  }
}

/** Names and locations, and registered machines that never reported (shown as offline). */
async function loadMachines (): Promise<void> {
  try {
    for (const m of rowsOf(await api<MachineInfo[] | { data: MachineInfo[] }>('/api/v1/machines'))) fleet.machine(m)
  } catch (err) {
    problem('machines', err)
  }
}

function fromHash (): void {
  const m = /^#machine=(.+)$/.exec(location.hash)
  const id = m === null ? null : decodeURIComponent(m[1]!)
  if (id === view.selected) return
  fleet.select(id)
  view.show(id, fleet.get(id ?? '')?.info).catch(() => {})
  if (id !== null) showHistory(id).catch(() => {})
}

let connectedBefore = false
function connectLive (delay = 500): void {
  const ws = new WebSocket(liveUrl())
  const status = $('live-status')
  const set = (s: 'live' | 'reconnecting'): void => {
    status.textContent = s === 'live' ? 'live' : 'live: reconnecting'
    status.className = s === 'live' ? 'pill on' : 'pill off'
    status.dataset.status = s
  }
  ws.onopen = () => ws.send(JSON.stringify({ subscribe: '*' }))
  ws.onmessage = (ev: MessageEvent<string>) => {
    const msg = JSON.parse(ev.data) as { type: string, data?: Reading[], event?: string, alarm?: Alarm }
    if (msg.type === 'subscribed') {
      set('live')
      delay = 500
      // Readings committed while the feed was down reach the table through the fleet route.
      if (connectedBefore) loadFleet().catch(() => {})
      connectedBefore = true
    } else if (msg.type === 'readings') {
      for (const r of msg.data ?? []) {
        fleet.reading(r)
        view.live(r)
        plant.reading(r.machine_id, r.timestamp)
      }
    } else if (msg.type === 'alarm' && msg.alarm !== undefined) {
      plant.alarm(msg.event ?? '', msg.alarm)
      if (view.selected === msg.alarm.machine_id) showHistory(view.selected).catch(() => {})
    }
  }
  ws.onclose = () => {
    set('reconnecting')
    setTimeout(() => connectLive(Math.min(delay * 2, 10_000)), delay)
  }
}

$<HTMLFormElement>('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  localStorage.setItem('cnc-token', $<HTMLInputElement>('token').value)
  location.reload()
})
$('machine-close').addEventListener('click', () => { location.hash = '' })
document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && view.selected !== null) location.hash = '' })
$('tile-offline').addEventListener('click', () => {
  const group = $<HTMLDetailsElement>('offline-group')
  group.open = true
  group.scrollIntoView({ block: 'nearest' })
})

Promise.all([loadFleet(), loadMachines()]).then(() => { fromHash(); plant.paintOffline() }).catch(() => {})
window.addEventListener('hashchange', fromHash)
connectLive()
setInterval(() => { loadFleet().catch(() => {}) }, FLEET_REFRESH_MS)
setInterval(() => { loadMachines().catch(() => {}) }, MACHINES_REFRESH_MS)
setInterval(() => fleet.tick(), 1_000)
// Plant floor (issue 12): alarms also arrive live; availability is a heavier query, once a minute.
const loadPlant = (): void => {
  plant.loadAlarms().catch((err: unknown) => problem('alarms', err))
  plant.loadAvailability().catch((err: unknown) => problem('availability', err))
}
loadPlant()
setInterval(() => { plant.loadAlarms().catch(() => {}) }, FLEET_REFRESH_MS)
setInterval(() => { plant.loadAvailability().catch(() => {}) }, 60_000)
setInterval(() => plant.paintOffline(), 5_000)
setInterval(() => { pollHealth().catch(() => {}) }, HEALTH_EVERY_MS)
pollHealth().catch(() => {})

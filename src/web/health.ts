/**
 * Pipeline health in the header, from GET /metrics polled every HEALTH_EVERY_MS: committed msg/s,
 * mean publish→commit lag and rejects/s over the last interval (counter deltas), pending messages
 * and live clients (gauges).
 */
import { authHeaders } from './api.js'

export const HEALTH_EVERY_MS = 2_000

/** Sums of the Prometheus samples, by metric name (labels summed). */
export function parseMetrics (text: string): Map<string, number> {
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

const $ = (id: string): HTMLElement => document.getElementById(id) as HTMLElement
let last: { at: number, m: Map<string, number> } | undefined

export async function pollHealth (): Promise<void> {
  const r = await fetch('/metrics', { headers: authHeaders() })
  if (!r.ok) return
  const m = parseMetrics(await r.text())
  const at = performance.now()
  const get = (n: string): number => m.get(n) ?? 0
  if (last !== undefined) {
    const prev = last.m
    const secs = (at - last.at) / 1000
    const d = (n: string): number => get(n) - (prev.get(n) ?? 0)
    $('h-rate').textContent = (d('cnc_messages_committed_total') / secs).toFixed(0)
    const rejects = d('cnc_messages_rejected_total') / secs
    $('h-rejects').textContent = rejects.toFixed(1)
    $('h-rejects').classList.toggle('warn', rejects > 0)
    const n = d('cnc_publish_to_commit_seconds_count')
    $('h-lag').textContent = n > 0 ? `${(d('cnc_publish_to_commit_seconds_sum') / n * 1000).toFixed(0)} ms` : '–'
  }
  $('h-pending').textContent = get('cnc_consumer_pending_messages').toFixed(0)
  $('h-clients').textContent = get('cnc_live_clients').toFixed(0)
  last = { at, m }
}

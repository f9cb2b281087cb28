/**
 * Live-feed fan-out: the service (dist/main.js, child process) ingests a fixed offered rate while N
 * WebSocket clients subscribed to "*" read everything. Reported per scenario: ingest's committed
 * rate, readings delivered per second in total and per client, the ingest thread's time in the
 * fan-out hook (cnc_live_publish_seconds), and the service's CPU.
 *
 *   flock /tmp/cnc-bench.lock npx tsx bench/live-fanout.ts
 *   LIVE_CLIENTS=50 LIVE_RATE=10000 LIVE_SECONDS=15 (defaults); writes bench/results/live-fanout-<ts>.json
 *
 * Clients run in this process and count readings without parsing (one indexOf per reading), so
 * the bench's own CPU stays small next to the service's; all of it shares the same 2 cores.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { WsClient } from '../test/helpers/ws-client.js'
import { createBenchEnv, pollUntil, sleep } from './lib/env.js'
import { readingPayloads } from './lib/payloads.js'
import { cpuSeconds } from './lib/procstat.js'
import { REPO_ROOT, startService } from './lib/service.js'

const CLIENTS = Number(process.env.LIVE_CLIENTS ?? 50)
const RATE = Number(process.env.LIVE_RATE ?? 10_000)
const SECONDS = Number(process.env.LIVE_SECONDS ?? 15)
const MACHINES = 200
const TICK_MS = 10
const MARK = Buffer.from('{"machine_id"')

interface Scenario { readonly name: string, readonly clients: number, readonly perMachinePerSecond: number }
const SCENARIOS: Scenario[] = [
  { name: 'no clients', clients: 0, perMachinePerSecond: 0 },
  { name: `${CLIENTS} clients, every reading`, clients: CLIENTS, perMachinePerSecond: 0 },
  { name: `${CLIENTS} clients, 10/s per machine (default)`, clients: CLIENTS, perMachinePerSecond: 10 },
]

function countReadings (buf: Buffer): number {
  let n = 0
  for (let i = buf.indexOf(MARK); i >= 0; i = buf.indexOf(MARK, i + MARK.length)) n++
  return n
}

async function run (s: Scenario, payloads: readonly Uint8Array[]): Promise<Record<string, number | string>> {
  const env = await createBenchEnv('LIVEFAN')
  const svc = await startService({
    ...env.cnc,
    CNC_LIVE_MAX_CLIENTS: String(s.clients + 10),
    CNC_LIVE_MAX_PER_MACHINE_PER_SECOND: String(s.perMachinePerSecond),
  }, s.name)
  const counts = new Float64Array(s.clients)
  const clients: WsClient[] = []
  try {
    for (let c = 0; c < s.clients; c++) {
      const ws = await WsClient.connect(svc.port, '/api/v1/live', {}, (buf) => { counts[c] = (counts[c] as number) + countReadings(buf) })
      ws.send({ subscribe: '*' })
      clients.push(ws)
    }
    await sleep(200)
    let sent = 0
    const perTick = RATE * TICK_MS / 1000
    const timer = setInterval(() => {
      for (let i = 0; i < perTick; i++) env.nc.publish(env.subject, payloads[sent++ % payloads.length] as Uint8Array)
    }, TICK_MS)
    await sleep(2_000) // warm-up: JIT, pools, pull credits
    const sample = async () => ({
      at: performance.now(),
      committed: await svc.metric('cnc_messages_committed_total'),
      delivered: counts.reduce((a, b) => a + b, 0),
      hook: await svc.metric('cnc_live_publish_seconds_sum'),
      cpu: cpuSeconds(svc.pid),
    })
    const a = await sample()
    await sleep(SECONDS * 1000)
    const b = await sample()
    clearInterval(timer)
    await pollUntil(env, (st) => st.pending === 0 && st.ackPending === 0, 120_000, 50)
    const secs = (b.at - a.at) / 1000
    const dropped = await svc.metric('cnc_live_clients_dropped_total')
    const min = s.clients === 0 ? 0 : Math.min(...counts)
    return {
      scenario: s.name,
      offered: RATE,
      ingest: Math.round((b.committed - a.committed) / secs),
      delivered: Math.round((b.delivered - a.delivered) / secs),
      perClient: s.clients === 0 ? 0 : Math.round((b.delivered - a.delivered) / secs / s.clients),
      hookMsPerSecond: Math.round((b.hook - a.hook) / secs * 1000 * 10) / 10,
      serviceCpu: Math.round((b.cpu - a.cpu) / secs * 100) / 100,
      dropped,
      minClientTotal: min,
    }
  } finally {
    for (const ws of clients) ws.close()
    await svc.stop()
    await env.cleanup()
  }
}

const payloads = readingPayloads(RATE * 5, 'LF', MACHINES)
const rows: Array<Record<string, number | string>> = []
for (const s of SCENARIOS) {
  const r = await run(s, payloads)
  rows.push(r)
  process.stdout.write(JSON.stringify(r) + '\n')
}
process.stdout.write('\n| scenario | offered msg/s | ingest msg/s | delivered readings/s (all clients) | per client | hook ms/s | service CPU | dropped clients |\n|---|---|---|---|---|---|---|---|\n')
for (const r of rows) {
  process.stdout.write(`| ${r.scenario} | ${r.offered} | ${r.ingest} | ${r.delivered} | ${r.perClient} | ${r.hookMsPerSecond} | ${r.serviceCpu} | ${r.dropped} |\n`)
}
const dir = `${REPO_ROOT}bench/results`
mkdirSync(dir, { recursive: true })
writeFileSync(`${dir}/live-fanout-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, JSON.stringify({ clients: CLIENTS, rate: RATE, seconds: SECONDS, machines: MACHINES, rows }, null, 2))

/**
 * Alarms end to end, through a kill -9 in the middle of an episode: readings published to JetStream,
 * committed by the service (a child process, batches of 5), the episode opened, pushed on the live
 * feed and served by GET /api/v1/alarms; then more readings and kill -9 while batches are in flight
 * (their messages are redelivered to the next instance, some already committed); a new instance
 * finishes the series. Exactly one episode, with the right start, end and peak; each reading stored once.
 *
 *   K-1 at 1 Hz: 0–19 s 80 °C · 20–59 s 90 °C (97 at 45 s) · 60–99 s 82 °C (between clear level 80 and
 *   threshold 85: still active) · 100 s 79 °C (clears) · 101–130 s 70 °C.    Rule: > 85 for 10 s, hysteresis 5.
 *   K-2 at 1 Hz: 84 °C throughout (never breaches).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ApiClient, assertNo5xx } from '../helpers/api-client.js'
import { emptyConfigFile, MainProc } from '../helpers/main-proc.js'
import { createTestEnv, prefill, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'
import { WsClient } from '../helpers/ws-client.js'

const T0 = Date.UTC(2025, 5, 2, 9)
const iso = (s: number): string => new Date(T0 + s * 1000).toISOString().replace('Z', '000Z')
const temp = (s: number): number => s < 20 ? 80 : s < 60 ? (s === 45 ? 97 : 90) : s < 100 ? 82 : s === 100 ? 79 : 70
const reading = (id: string, s: number, t: number): string =>
  JSON.stringify({ machine_id: id, timestamp: iso(s), temperature: t, spindle_speed: 1000, machine_state: 'RUNNING' })
const range = (from: number, to: number): string[] => {
  const out: string[] = []
  for (let s = from; s <= to; s++) out.push(reading('K-1', s, temp(s)), reading('K-2', s, 84))
  return out
}

interface Alarm { id: number, machine_id: string, rule: string, started_at: string, ended_at: string | null, active: boolean, peak_value: number }
interface Page { count: number, has_more: boolean, next_cursor: string | null, data: Alarm[] }

describe('alarms through kill -9 and redelivery', () => {
  let t: TestEnv
  let env: Record<string, string>
  const procs: MainProc[] = []
  before(async () => {
    t = await createTestEnv('ALARMK9')
    env = {
      ...t.env,
      CNC_ALARMS_RULES: JSON.stringify([{ name: 'hot', field: 'temperature', comparison: '>', threshold: 85, min_duration_seconds: 10, clear_hysteresis: 5, severity: 'critical' }]),
      CNC_ALARMS_INTERVAL_MS: '200',
      CNC_ALARMS_LATE_MARGIN_MS: '300',
      CNC_INGEST_BATCH_SIZE: '5',
      CNC_NATS_ACK_WAIT_MS: '2000',
      CNC_NATS_BACKOFF_MS: '2000',
      CNC_LOG_LEVEL: 'info',
    }
  })
  after(async () => {
    for (const p of procs) { p.kill(); await p.exit }
    await t?.cleanup()
  })

  const spawn = (): MainProc => { const p = new MainProc(['--config', emptyConfigFile()], env); procs.push(p); return p }
  const alarms = () => t.query<{ n: string, started: string, ended: string | null, peak: number }>(
    `SELECT count(*) OVER () AS n, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS started,
            to_char(ended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ended, peak_value AS peak FROM alarms`)

  it('stores one episode with the right start, end and peak, pushes it and serves it', async (tc) => {
    const first = spawn()
    const port = await first.waitReady()
    const ws = await WsClient.connect(port, '/api/v1/live')
    ws.send({ subscribe: ['K-1'] })
    await ws.next((m) => m.type === 'subscribed')
    // An exact subscription (its own topics) gets the alarm frames too.
    const exact = await WsClient.connect(port, '/api/v1/live')
    exact.send({ subscribe: ['K-1'], exact: true })
    await exact.next((m) => m.type === 'subscribed')

    await prefill(t, range(0, 49))
    await waitFor('the episode to open', async () => (await alarms()).length === 1, 60_000, 100)
    const opened = await ws.next((m) => m.type === 'alarm', 10_000)
    assert.equal(opened.event, 'opened')
    assert.deepEqual(await exact.next((m) => m.type === 'alarm', 10_000), opened)
    exact.close()
    assert.deepEqual({ ...(opened.alarm as Alarm), id: 0, peak_value: 0 }, {
      id: 0,
      machine_id: 'K-1',
      rule: 'hot',
      severity: 'critical',
      field: 'temperature',
      comparison: '>',
      threshold: 85,
      started_at: iso(20),
      ended_at: null,
      active: true,
      peak_value: 0,
    })
    ws.close()
    const api = new ApiClient(`http://127.0.0.1:${port}`)
    const active = (await api.get('/api/v1/alarms?active=true&machine_id=K-1')).json<Page>()
    assert.equal(active.count, 1)
    assert.equal(active.data[0]?.started_at, iso(20))
    assert.equal((await api.get('/api/v1/alarms?active=false')).json<Page>().count, 0)
    assert.equal((await api.get('/api/v1/alarms?active=maybe')).status, 400)
    assertNo5xx(api)

    // More of the episode, and kill -9 while its batches are being written and acked.
    await prefill(t, range(50, 89))
    await waitFor('part of the second burst committed', async () =>
      Number((await t.query<{ n: string }>("SELECT count(*) AS n FROM sensor_data WHERE machine_id = 'K-1'"))[0]?.n) >= 60, 60_000, 5)
    first.kill('SIGKILL')
    await first.exit
    const pending = await t.consumerInfo()
    tc.diagnostic(`at the kill: ${pending.num_pending} pending, ${pending.num_ack_pending} awaiting ack`)

    const second = spawn()
    const port2 = await second.waitReady()
    await prefill(t, range(90, 130))
    await waitSettled(t, 60_000)
    await waitFor('the episode to end', async () => (await alarms())[0]?.ended !== null, 60_000, 100)
    assert.deepEqual(await alarms(), [{ n: '1', started: iso(20), ended: iso(100), peak: 97 }])
    const counts = await t.query<{ machine_id: string, n: string, d: string }>(
      'SELECT machine_id, count(*) AS n, count(DISTINCT time) AS d FROM sensor_data GROUP BY machine_id ORDER BY machine_id')
    assert.deepEqual(counts, [{ machine_id: 'K-1', n: '131', d: '131' }, { machine_id: 'K-2', n: '131', d: '131' }])

    const api2 = new ApiClient(`http://127.0.0.1:${port2}`)
    const ended = (await api2.get('/api/v1/alarms?active=false&start_time=2025-06-02T09:01:00Z&end_time=2025-06-02T09:02:00Z')).json<Page>()
    assert.deepEqual(ended.data.map((a) => [a.machine_id, a.started_at, a.ended_at, a.active, a.peak_value]), [['K-1', iso(20), iso(100), false, 97]])
    const metrics = await (await fetch(`http://127.0.0.1:${port2}/metrics`)).text()
    const redelivered = /^cnc_messages_redelivered_total (\d+)/m.exec(metrics)?.[1]
    const already = /^cnc_messages_already_committed_total (\d+)/m.exec(metrics)?.[1]
    tc.diagnostic(`second instance: ${redelivered ?? '?'} redelivered messages, ${already ?? '?'} of them already committed`)
    const sum = Number(/^cnc_alarm_evaluation_seconds_sum (\S+)/m.exec(metrics)?.[1])
    const count = Number(/^cnc_alarm_evaluation_seconds_count (\S+)/m.exec(metrics)?.[1])
    const evaluated = Number(/^cnc_alarm_readings_evaluated_total (\S+)/m.exec(metrics)?.[1])
    tc.diagnostic(`second instance: ${count} evaluation transactions, mean ${(1000 * sum / count).toFixed(1)} ms, ${evaluated} readings evaluated`)
    assert.match(metrics, /^cnc_alarm_episodes_total\{event="cleared"\} 1$/m, 'the second instance cleared the episode the first opened')
    assert.doesNotMatch(metrics, /^cnc_alarm_episodes_total\{event="opened"\}/m, 'and opened none')
    assertNo5xx(api2)
    second.kill('SIGTERM')
    await second.exit
  })
})

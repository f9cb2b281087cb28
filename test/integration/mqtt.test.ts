/**
 * MQTT devices: a private nats-server started from configs/nats-mqtt.conf (its MQTT listener moved to
 * a free port, its store in a temporary directory, as docker/compose.yml overrides them with flags),
 * the service consuming from it, and Debian's mosquitto_pub publishing QoS 1 to topic <stream>/metrics:
 * valid readings become rows, a malformed payload and one breaking the contract become dead letters.
 */
import assert from 'node:assert/strict'
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import type { Service } from '../../src/service.js'
import { freePort } from '../faults/harness.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, waitFor, type TestEnv } from '../helpers/test-env.js'

const run = promisify(execFile)
const portOpen = (port: number): Promise<boolean> => new Promise((resolve) => {
  const c = createConnection({ host: '127.0.0.1', port })
  c.once('connect', () => { c.destroy(); resolve(true) })
  c.once('error', () => resolve(false))
})
const CONF = new URL('../../configs/nats-mqtt.conf', import.meta.url)
const hasMosquitto = spawnSync('mosquitto_pub', ['--help']).error === undefined
const READINGS = 40

describe('MQTT devices through the nats-server MQTT listener', { skip: hasMosquitto ? false : 'mosquitto_pub missing: bash .ci/tools.sh installs mosquitto-clients' }, () => {
  let t: TestEnv
  let dir: string
  let nats: ChildProcess | undefined
  let service: Service | undefined
  let mqttPort: number
  const count = async (sql: string): Promise<number> => Number((await t.query<{ n: string }>(sql))[0]?.n)
  const pub = (topic: string, args: string[], input?: string): Promise<unknown> => {
    const p = run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1', '-t', topic, ...args], { timeout: 30_000 })
    if (input !== undefined) p.child.stdin?.end(input)
    return p
  }

  before(async () => {
    t = await createTestEnv('MQTT')
    dir = mkdtempSync(join(tmpdir(), 'cnc-mqtt-'))
    mqttPort = await freePort()
    const natsPort = await freePort()
    const conf = readFileSync(CONF, 'utf8').replace('listen: 0.0.0.0:1883', `listen: 127.0.0.1:${mqttPort}`)
    assert.match(conf, new RegExp(`listen: 127\\.0\\.0\\.1:${mqttPort}`), 'the shipped configuration has the MQTT listener')
    writeFileSync(join(dir, 'nats.conf'), conf)
    nats = spawn('nats-server', ['--config', join(dir, 'nats.conf'), '--addr', '127.0.0.1', '--port', String(natsPort),
      '--jetstream', '--store_dir', join(dir, 'js'), '--http_port', String(await freePort())], { stdio: 'ignore' })
    for (const port of [natsPort, mqttPort]) await waitFor(`nats-server listening on ${port}`, () => portOpen(port), 30_000, 100)
    service = await startService(t, { CNC_NATS_URL: `nats://127.0.0.1:${natsPort}`, CNC_INGEST_LINGER_MS: '5' })
  })
  after(async () => {
    await service?.close()
    nats?.kill('SIGTERM')
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    await t?.cleanup()
  })

  it('QoS 1 readings on <stream>/metrics become rows; malformed ones dead letters on <stream>.metrics', async () => {
    const topic = `${t.stream}/metrics`
    const lines = Array.from({ length: READINGS }, (_, i) => JSON.stringify({
      machine_id: `MQ-${i % 4}`, timestamp: new Date(Date.UTC(2025, 5, 1, 8, 0, i)).toISOString(), temperature: 20 + i, spindle_speed: 1000, machine_state: 'RUNNING', active_program_line: i,
    }))
    // -l: one message per line of stdin, all on one connection (a gateway's shape).
    await pub(topic, ['-i', 'gateway-1', '-l'], lines.join('\n') + '\n')
    await pub(topic, ['-i', 'gateway-2', '-m', '{"machine_id": "MQ-9", "timestamp": '])
    await pub(topic, ['-i', 'gateway-3', '-m', JSON.stringify({ machine_id: 'MQ-9', timestamp: '2025-06-01T08:00:00Z', temperature: 'hot', spindle_speed: 1 })])
    await waitFor('rows and dead letters', async () =>
      await count('SELECT count(*) AS n FROM sensor_data') === READINGS && await count('SELECT count(*) AS n FROM rejected_messages') === 2, 60_000, 100)
    assert.equal(await count('SELECT count(DISTINCT active_program_line) AS n FROM sensor_data'), READINGS)
    const dead = await t.query<{ reason: string, subject: string }>('SELECT reason, subject FROM rejected_messages ORDER BY stream_seq')
    assert.deepEqual(dead.map((d) => d.reason), ['invalid_json', 'schema'])
    assert.deepEqual(dead.map((d) => d.subject), [`${t.stream}.metrics`, `${t.stream}.metrics`])
    const r = await t.query<{ t: number }>('SELECT temperature AS t FROM sensor_data WHERE active_program_line = 7')
    assert.equal(r[0]?.t, 27)
  })
})

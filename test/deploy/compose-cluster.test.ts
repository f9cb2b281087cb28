/**
 * docker/compose.cluster.yml, checked without a Docker engine like docker/compose.yml: accepted by
 * `docker-compose config`, three NATS nodes routed to each other with JetStream, a streaming replica
 * of TimescaleDB, and three service instances whose settings the service's own loader accepts.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { loadConfig } from '../../src/config/load.js'

const DOCKER = fileURLToPath(new URL('../../docker/', import.meta.url))
const FILE = DOCKER + 'compose.cluster.yml'

interface ComposeService {
  command?: string[]
  depends_on?: Record<string, { condition: string }>
  environment?: Record<string, string | number>
  healthcheck?: { test: string[] }
  volumes?: string[]
  ports?: string[]
  stop_grace_period?: string
}
interface Compose { services: Record<string, ComposeService>, volumes: Record<string, unknown> }

const compose = parseYaml(readFileSync(FILE, 'utf8'), { merge: true }) as Compose
const svc = (name: string): ComposeService => {
  const s = compose.services[name]
  assert.ok(s, `service ${name}`)
  return s
}
const NATS = ['nats-1', 'nats-2', 'nats-3']
const INSTANCES = ['cnc-monitor-1', 'cnc-monitor-2', 'cnc-monitor-3']

describe('docker/compose.cluster.yml', () => {
  test('docker-compose config accepts it, and refuses it without the API token', (t) => {
    if (spawnSync('docker-compose', ['version', '--short']).error !== undefined) {
      t.skip('docker-compose is not installed and .ci/tools.sh could not install it (run make tools)')
      return
    }
    const env = { ...process.env, CNC_HTTP_AUTH_TOKEN: 'ci-token' }
    execFileSync('docker-compose', ['-f', FILE, 'config', '-q'], { stdio: 'pipe', env })
    const rendered = parseYaml(execFileSync('docker-compose', ['-f', FILE, 'config'], { encoding: 'utf8', env })) as Compose
    assert.deepEqual(Object.keys(rendered.services).sort(), [...INSTANCES, ...NATS, 'timescaledb', 'timescaledb-replica'].sort())
    const { CNC_HTTP_AUTH_TOKEN: _, ...without } = env
    const refused = spawnSync('docker-compose', ['-f', FILE, 'config', '-q'], { encoding: 'utf8', env: without })
    assert.notEqual(refused.status, 0)
    assert.match(refused.stderr, /CNC_HTTP_AUTH_TOKEN/)
  })

  test('three JetStream nodes, each routed to all three, each with its own name and volume', () => {
    const names = new Set<string>()
    for (const n of NATS) {
      const cmd = svc(n).command ?? []
      const arg = (flag: string): string | undefined => cmd[cmd.indexOf(flag) + 1]
      assert.ok(cmd.includes('--jetstream'), `${n} runs JetStream`)
      names.add(arg('--server_name') ?? '')
      assert.equal(arg('--cluster_name'), 'cnc')
      assert.deepEqual(arg('--routes')?.split(',').sort(), NATS.map((x) => `nats://${x}:6222`))
      assert.ok(svc(n).healthcheck?.test.some((a) => a.includes('healthz?js-enabled-only=true')))
      const vol = svc(n).volumes?.find((v) => v.endsWith(':/data'))?.split(':')[0]
      assert.ok(vol !== undefined && vol in compose.volumes, `${n}: named volume`)
    }
    assert.equal(names.size, 3, 'unique server names')
  })

  test('a streaming replica of TimescaleDB, set up by a role the primary creates on first start', () => {
    const primary = svc('timescaledb')
    assert.ok(primary.volumes?.some((v) => v.includes('replication-init.sh:/docker-entrypoint-initdb.d/')))
    const script = DOCKER + 'replication-init.sh'
    assert.ok(existsSync(script) && (statSync(script).mode & 0o111) !== 0, 'init script present and executable')
    assert.match(readFileSync(script, 'utf8'), /REPLICATION LOGIN/)
    const replica = svc('timescaledb-replica')
    assert.match(replica.command?.join(' ') ?? '', /pg_basebackup -h timescaledb -U replicator .*-R/)
    assert.deepEqual(replica.depends_on, { timescaledb: { condition: 'service_healthy' } })
  })

  test('three instances on one stream and consumer: all NATS nodes, R3, the API on the replica, settings the loader accepts', () => {
    const ports = new Set<string>()
    for (const name of INSTANCES) {
      const s = svc(name)
      const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) =>
        [k, String(v).replace(/\$\{\w+:-([^}]*)\}/g, '$1').replace(/\$\{\w+:\?[^}]*\}/g, 'set-by-user')]))
      const cfg = loadConfig([], env)
      assert.deepEqual(cfg.nats.url.split(','), NATS.map((n) => `nats://${n}:4222`))
      assert.equal(cfg.nats.stream_replicas, 3)
      assert.equal(cfg.nats.max_ack_pending, INSTANCES.length * cfg.ingest.batch_size * (cfg.ingest.max_in_flight + 1), 'README rule for N instances')
      assert.match(cfg.database.url, /@timescaledb:5432\//)
      assert.match(cfg.database.api_url, /@timescaledb-replica:5432\//)
      assert.equal(s.depends_on?.timescaledb?.condition, 'service_healthy')
      assert.equal(s.depends_on?.['timescaledb-replica']?.condition, 'service_started', 'ingest never waits for the replica')
      for (const n of NATS) assert.equal(s.depends_on?.[n]?.condition, 'service_healthy')
      for (const p of s.ports ?? []) ports.add(p.split(':')[0] ?? '')
    }
    assert.equal(ports.size, INSTANCES.length, 'one host port per instance')
  })
})

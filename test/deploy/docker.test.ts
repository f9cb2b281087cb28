/**
 * The Docker deployment, checked without a Docker engine (none runs here): the Dockerfile's shape,
 * docker/compose.yml accepted by `docker-compose config` (installed by .ci/tools.sh) and its wiring,
 * its CNC_* settings accepted by the service's own config loader, and the Grafana dashboard and
 * Prometheus configuration referring only to metrics the service registers.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { createMetrics } from '../../src/metrics.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const DOCKER = ROOT + 'docker/'
const read = (path: string): string => readFileSync(DOCKER + path, 'utf8')

interface ComposeService {
  image?: string
  command?: string[]
  build?: { context: string, dockerfile: string }
  depends_on?: Record<string, { condition: string }> | string[]
  environment?: Record<string, string | number>
  healthcheck?: { test: string[] }
  volumes?: string[]
  profiles?: string[]
  stop_grace_period?: string
}
interface Compose { services: Record<string, ComposeService>, volumes: Record<string, unknown> }

function service (compose: Compose, name: string): ComposeService {
  const s = compose.services[name]
  assert.ok(s, `service ${name}`)
  return s
}

function seconds (duration: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(duration)
  assert.ok(m, `duration ${duration}`)
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60 }[m[2] as 'ms' | 's' | 'm'])
}

describe('docker/Dockerfile', () => {
  const text = read('Dockerfile')
  const lines = text.split('\n').filter((l) => !l.startsWith('#'))
  const froms = lines.filter((l) => l.startsWith('FROM '))

  test('multi-stage on Node 20 bookworm-slim (glibc, for the uWS binary)', () => {
    assert.match(text, /^ARG NODE_IMAGE=node:20-bookworm-slim$/m)
    assert.ok(froms.length >= 2, 'at least a build stage and a runtime stage')
    for (const f of froms) assert.match(f, /^FROM \$\{NODE_IMAGE\}( AS \w+)?$/)
  })

  test('production dependencies only in the runtime image', () => {
    assert.match(text, /npm ci --omit=dev/)
    const runtime = text.slice(text.lastIndexOf('\nFROM '))
    assert.match(runtime, /COPY --from=deps \/app\/node_modules/)
    assert.match(runtime, /COPY --from=build \/src\/dist/)
    for (const path of ['sql', 'configs']) assert.match(runtime, new RegExp(`COPY ${path} `))
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'sql', 'configs']) assert.ok(existsSync(ROOT + path), path)
  })

  test('non-root user, health check on /livez, SIGTERM, node dist/main.js', () => {
    const runtime = lines.slice(lines.lastIndexOf(froms[froms.length - 1] as string))
    const user = runtime.find((l) => l.startsWith('USER '))
    assert.ok(user !== undefined && !/^USER (root|0)(:|$)/.test(user), 'USER set to a non-root user in the runtime stage')
    assert.match(text, /^HEALTHCHECK .*\\\n\s+CMD .*\/livez/m)
    assert.match(text, /^STOPSIGNAL SIGTERM$/m)
    assert.match(text, /^CMD \["node", "dist\/main\.js"\]$/m)
    assert.ok(existsSync(DOCKER + 'Dockerfile.dockerignore'))
  })
})

describe('docker/compose.yml', () => {
  const compose = parseYaml(read('compose.yml'), { merge: true }) as Compose

  test('docker-compose config accepts it (with and without the monitoring profile)', (t) => {
    const probe = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' })
    if (probe.error !== undefined) {
      t.skip('docker-compose is not installed and .ci/tools.sh could not install it (run make tools)')
      return
    }
    const env = { ...process.env, CNC_HTTP_AUTH_TOKEN: 'ci-token' }
    for (const args of [[], ['--profile', 'monitoring']]) {
      execFileSync('docker-compose', ['-f', DOCKER + 'compose.yml', ...args, 'config', '-q'], { stdio: 'pipe', env })
    }
    const rendered = parseYaml(execFileSync('docker-compose', ['-f', DOCKER + 'compose.yml', 'config'], { encoding: 'utf8', env })) as Compose
    assert.equal(rendered.services['cnc-monitor']?.environment?.CNC_HTTP_AUTH_TOKEN, 'ci-token')
    // The API token is required: without it compose refuses to start anything.
    const { CNC_HTTP_AUTH_TOKEN: _, ...without } = env
    const refused = spawnSync('docker-compose', ['-f', DOCKER + 'compose.yml', 'config', '-q'], { encoding: 'utf8', env: without })
    assert.notEqual(refused.status, 0)
    assert.match(refused.stderr, /CNC_HTTP_AUTH_TOKEN/)
    assert.deepEqual(Object.keys(rendered.services).sort(), ['cnc-monitor', 'grafana', 'nats', 'prometheus', 'timescaledb'])
  })

  test('TimescaleDB (official image) and NATS with JetStream, monitoring port and JetStream health check', () => {
    assert.match(service(compose, 'timescaledb').image ?? '', /timescale\/timescaledb:/)
    const nats = service(compose, 'nats')
    assert.ok(nats.command?.includes('--jetstream'))
    assert.deepEqual(nats.command?.slice(nats.command.indexOf('--http_port'), nats.command.indexOf('--http_port') + 2), ['--http_port', '8222'])
    assert.ok(nats.healthcheck?.test.some((a) => a.includes(':8222/healthz?js-enabled-only=true')))
    assert.ok(service(compose, 'timescaledb').healthcheck?.test.some((a) => a.includes('pg_isready')))
  })

  test('the service waits for both to be healthy, has a volume per store and outlives its drain deadline', () => {
    const svc = service(compose, 'cnc-monitor')
    assert.deepEqual(svc.build, { context: '..', dockerfile: 'docker/Dockerfile' })
    assert.deepEqual(svc.depends_on, { timescaledb: { condition: 'service_healthy' }, nats: { condition: 'service_healthy' } })
    for (const [name, mount] of [['timescaledb', '/var/lib/postgresql/data'], ['nats', '/data'], ['prometheus', '/prometheus'], ['grafana', '/var/lib/grafana']] as const) {
      const vol = service(compose, name).volumes?.find((v) => v.endsWith(':' + mount))
      assert.ok(vol !== undefined && vol.split(':')[0] as string in compose.volumes, `${name}: named volume on ${mount}`)
    }
    // Interpolate as compose would: ${VAR:-default} → default, ${VAR:?message} → a value the user must set.
    const env = Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) =>
      [k, String(v).replace(/\$\{\w+:-([^}]*)\}/g, '$1').replace(/\$\{\w+:\?[^}]*\}/g, 'set-by-user')]))
    // The service's own loader accepts every setting (an unknown CNC_* key would stop it with exit 2).
    const cfg = loadConfig([], env)
    assert.equal(cfg.nats.url, 'nats://nats:4222')
    assert.equal(cfg.http.host, '0.0.0.0')
    assert.equal(cfg.http.auth_token, 'set-by-user')
    const drainS = cfg.ingest.shutdown_timeout_ms / 1000 + 5 // + main.ts's hard-stop margin
    assert.ok(seconds(svc.stop_grace_period ?? '10s') > drainS, `stop_grace_period ${svc.stop_grace_period} > ${drainS} s`)
  })

  test('Prometheus and Grafana only in the monitoring profile', () => {
    assert.deepEqual(service(compose, 'prometheus').profiles, ['monitoring'])
    assert.deepEqual(service(compose, 'grafana').profiles, ['monitoring'])
    assert.equal(service(compose, 'cnc-monitor').profiles, undefined)
  })
})

describe('monitoring configuration', () => {
  test('Prometheus scrapes every replica of the service on its HTTP port', () => {
    const prom = parseYaml(read('prometheus.yml')) as { scrape_configs: Array<{ job_name: string, dns_sd_configs?: Array<{ names: string[], port: number }> }> }
    const job = prom.scrape_configs.find((j) => j.job_name === 'cnc-monitor')
    assert.deepEqual(job?.dns_sd_configs?.[0], { names: ['cnc-monitor'], type: 'A', port: 8081, refresh_interval: '15s' })
  })

  test('the dashboard uses only metrics the service registers, and the provisioned data sources', async () => {
    const dash = JSON.parse(read('grafana/dashboards/cnc-monitor.json')) as { panels: Array<{ type: string, datasource?: { uid: string }, targets?: Array<{ expr?: string, rawSql?: string }> }> }
    const ds = parseYaml(read('grafana/provisioning/datasources/datasources.yml')) as { datasources: Array<{ uid: string }> }
    const uids = new Set(ds.datasources.map((d) => d.uid))
    const registered = new Set<string>()
    for (const m of await createMetrics().registry.getMetricsAsJSON()) {
      registered.add(m.name)
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) registered.add(m.name + s)
    }
    let exprs = 0
    let sqls = 0
    for (const p of dash.panels.filter((x) => x.type !== 'row')) {
      assert.ok(p.datasource !== undefined && uids.has(p.datasource.uid), `panel data source ${p.datasource?.uid}`)
      for (const t of p.targets ?? []) {
        for (const name of t.expr?.match(/\bcnc_[a-z0-9_]+/g) ?? []) assert.ok(registered.has(name), `${name} is registered`)
        if (t.expr !== undefined) exprs++
        if (t.rawSql !== undefined) sqls++
      }
    }
    assert.ok(exprs >= 10 && sqls >= 4, 'service metrics and fleet telemetry panels')
  })
})

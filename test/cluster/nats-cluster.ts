/**
 * A private three-node JetStream cluster on loopback for the cluster tests, and the world around it
 * (a private PostgreSQL, service instances as child processes), built from the fault harness's pieces.
 *
 *   NatsNode n1..n3: nats-server -c <dir>/n<i>.conf
 *       server_name n<i> · listen 127.0.0.1:<client> · cluster 127.0.0.1:<route>, routes to all three
 *       jetstream store_dir <dir>/n<i>          (restart: same config, same store)
 *   ClusterWorld.start() → cluster + PgCluster + stream FAULTS (R3) · spawnService() with the three
 *       URLs comma-separated in CNC_NATS_URL · stop() kills everything and removes <dir>.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { execFile } from 'node:child_process'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import pg from 'pg'
import { CONSUMER, DATABASE, PgCluster, STREAM, ServiceProc, faultServiceEnv, freePort, sleep, waitFor } from '../faults/harness.js'

const run = promisify(execFile)

const live = new Set<ChildProcess>()
process.once('exit', () => { for (const c of live) c.kill('SIGKILL') })

function portOpen (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port })
    c.once('connect', () => { c.destroy(); resolve(true) })
    c.once('error', () => resolve(false))
  })
}

export class NatsNode {
  readonly name: string
  readonly port: number
  readonly #conf: string
  #proc: ChildProcess | undefined

  constructor (name: string, port: number, conf: string) {
    this.name = name
    this.port = port
    this.#conf = conf
  }

  get url (): string { return `nats://127.0.0.1:${this.port}` }
  get running (): boolean { return this.#proc !== undefined }

  async start (): Promise<void> {
    const p = spawn('nats-server', ['-c', this.#conf], { stdio: 'ignore' })
    live.add(p)
    p.once('exit', () => live.delete(p))
    this.#proc = p
    await waitFor(`nats-server ${this.name} on ${this.port}`, () => portOpen(this.port), 15_000, 50)
  }

  async stop (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const p = this.#proc
    if (p === undefined) return
    this.#proc = undefined
    if (p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((resolve) => p.once('exit', resolve))
      p.kill(signal)
      await gone
    }
  }
}

export class NatsCluster {
  readonly nodes: NatsNode[]

  private constructor (nodes: NatsNode[]) { this.nodes = nodes }

  /** The client URLs, comma-separated (CNC_NATS_URL). */
  get urls (): string { return this.nodes.map((n) => n.url).join(',') }

  node (name: string | undefined): NatsNode {
    const n = this.nodes.find((x) => x.name === name)
    if (n === undefined) throw new Error(`no cluster node named ${String(name)}`)
    return n
  }

  static async start (dir: string, size = 3): Promise<NatsCluster> {
    const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), route: await freePort() })))
    const routes = ports.map((p) => `"nats-route://127.0.0.1:${p.route}"`).join(', ')
    const nodes = ports.map((p, i) => {
      const name = `n${i + 1}`
      const store = join(dir, name)
      mkdirSync(store, { recursive: true })
      const conf = join(dir, `${name}.conf`)
      writeFileSync(conf, [
        `server_name: "${name}"`,
        `listen: "127.0.0.1:${p.client}"`,
        `jetstream { store_dir: "${store}" }`,
        `cluster { name: "cnc-test", listen: "127.0.0.1:${p.route}", routes: [${routes}] }`,
        '',
      ].join('\n'))
      return new NatsNode(name, p.client, conf)
    })
    await Promise.all(nodes.map((n) => n.start()))
    return new NatsCluster(nodes)
  }

  async stop (): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop('SIGKILL')))
  }
}

/** One cluster test's private world: NATS cluster, PostgreSQL, services. */
export class ClusterWorld {
  readonly dir: string
  readonly nats: NatsCluster
  readonly pg: PgCluster
  readonly services: ServiceProc[] = []
  readonly configFile: string
  #nc: NatsConnection | undefined
  #jsm: JetStreamManager | undefined
  #db: pg.Pool | undefined

  private constructor (dir: string, nats: NatsCluster, pgc: PgCluster) {
    this.dir = dir
    this.nats = nats
    this.pg = pgc
    this.configFile = join(dir, 'config.yaml')
    writeFileSync(this.configFile, '# cluster tests: schema defaults and CNC_* variables only\n')
  }

  static async start (replicas = 3): Promise<ClusterWorld> {
    const dir = mkdtempSync(join(tmpdir(), 'cnc-cluster-'))
    if (process.getuid?.() === 0) {
      const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])])
      chownSync(dir, Number(uid.stdout.trim()), Number(gid.stdout.trim()))
    }
    const pgc = new PgCluster(await freePort(), join(dir, 'pg'))
    await pgc.init()
    const [nats] = await Promise.all([NatsCluster.start(join(dir, 'nats')), pgc.start()])
    const w = new ClusterWorld(dir, nats, pgc)
    const admin = new pg.Client({ connectionString: pgc.adminUrl })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${DATABASE}`)
    await admin.end()
    // The meta leader is elected a moment after the routes connect; until then JetStream requests fail
    // or time out (the manager's own API check included).
    await waitFor('JetStream to accept an R3 stream', async () => {
      const jsm = await w.jsm()
      await jsm.streams.add({ name: STREAM, subjects: [`${STREAM}.>`], num_replicas: replicas })
      return true
    }, 60_000, 250)
    await w.waitCurrent()
    return w
  }

  /** Waits until the stream and (when it exists) the consumer have a leader and every replica is current. */
  async waitCurrent (timeoutMs = 60_000): Promise<void> {
    const jsm = await this.jsm()
    await waitFor('stream and consumer replicas current', async () => {
      const si = await jsm.streams.info(STREAM)
      if (si.cluster?.leader === undefined || (si.cluster.replicas ?? []).some((r) => !r.current || r.offline === true)) return false
      const ci = await jsm.consumers.info(STREAM, CONSUMER).catch(() => null)
      return ci === null || (ci.cluster?.leader !== undefined && (ci.cluster.replicas ?? []).every((r) => r.current && r.offline !== true))
    }, timeoutMs, 200)
  }

  async streamLeader (): Promise<string | undefined> {
    return (await (await this.jsm()).streams.info(STREAM)).cluster?.leader
  }

  async consumerLeader (): Promise<string | undefined> {
    return (await (await this.jsm()).consumers.info(STREAM, CONSUMER)).cluster?.leader
  }

  serviceEnv (extra: Record<string, string> = {}): Record<string, string> {
    return faultServiceEnv(this.nats.urls, this.pg.url, extra)
  }

  spawnService (env: Record<string, string> = {}): ServiceProc {
    const s = new ServiceProc(this.serviceEnv(env), this.configFile)
    this.services.push(s)
    return s
  }

  /** The test's own connection, to all three nodes (reconnects forever). */
  async nc (): Promise<NatsConnection> {
    this.#nc ??= await connect({ servers: this.nats.nodes.map((n) => n.url), noAsyncTraces: true, maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    return this.#nc
  }

  async jsm (): Promise<JetStreamManager> {
    this.#jsm ??= await jetstreamManager(await this.nc(), { timeout: 5_000 })
    return this.#jsm
  }

  async query<R extends pg.QueryResultRow = Record<string, unknown>> (sql: string, params?: unknown[]): Promise<R[]> {
    if (this.#db === undefined) {
      this.#db = new pg.Pool({ connectionString: this.pg.url, max: 2 })
      this.#db.on('error', () => {})
    }
    return (await this.#db.query<R>(sql, params)).rows
  }

  async stop (): Promise<void> {
    for (const s of this.services) s.kill('SIGKILL')
    await Promise.all(this.services.map((s) => s.exit))
    await this.#db?.end().catch(() => {})
    await this.#nc?.close().catch(() => {})
    await this.nats.stop()
    await this.pg.stop('immediate')
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/**
 * Samples /readyz and a few metrics of the services every `everyMs` until stopped: what an operator's
 * probe would have seen during a fault, summarised as e.g. `200×41 503{nats}×3`.
 */
export class ReadySampler {
  readonly #seen = new Map<string, number>()
  #stop = false
  readonly #done: Promise<void>

  constructor (services: () => ServiceProc[], everyMs = 250) {
    this.#done = (async () => {
      while (!this.#stop) {
        for (const s of services()) {
          if (!s.alive || s.port === 0) continue
          let key: string
          try {
            const r = await s.readyz()
            key = r.status === 200 ? '200' : `503{${Object.keys((JSON.parse(r.body) as { checks?: object }).checks ?? {}).join(',')}}`
          } catch {
            key = 'no answer'
          }
          this.#seen.set(key, (this.#seen.get(key) ?? 0) + 1)
        }
        await sleep(everyMs)
      }
    })()
  }

  async stop (): Promise<string> {
    this.#stop = true
    await this.#done
    return [...this.#seen].map(([k, n]) => `${k}×${n}`).join(' ')
  }
}

/**
 * Killable infrastructure for the fault tests: a private nats-server, a private PostgreSQL cluster and
 * the service as a child process (`node dist/main.js`). The shared servers on 4222/5432 are never touched.
 *
 *   Faults.start() ─▶ nats-server -js -p <free> -sd <tmp>/nats     (restart: SIGTERM or SIGKILL, same dir)
 *                  ─▶ initdb + pg_ctl start -p <free> <tmp>/pg     (restart: pg_ctl stop -m fast|immediate)
 *                  ─▶ spawnService(): CNC_* env only, HTTP port 0 (read back from its "http server listening" line)
 *   Faults.stop()  ─▶ kill every child, pg_ctl stop -m immediate, rm -rf <tmp>; safe after any failure.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import pg from 'pg'

const run = promisify(execFile)
const PG_BIN = process.env.FAULTS_PG_BIN ?? '/usr/lib/postgresql/15/bin'
const ROOT = new URL('../../', import.meta.url).pathname
/** Full sizes with FAULTS_FULL=1 (npm run test:faults); the short versions run in `npm test`. */
export const FULL = process.env.FAULTS_FULL === '1'
export const STREAM = 'FAULTS'
export const CONSUMER = 'PROCESSOR'
export const DATABASE = 'cnc_faults'

/**
 * The CNC_* environment of a fault-test service on the given servers (one NATS URL or a comma-separated
 * list). Ack wait 3 s so a killed instance's messages come back quickly.
 */
export function faultServiceEnv (natsUrl: string, databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CNC_NATS_URL: natsUrl,
    CNC_NATS_STREAM: STREAM,
    CNC_NATS_CONSUMER: CONSUMER,
    CNC_NATS_ACK_WAIT_MS: '3000',
    CNC_NATS_BACKOFF_MS: '3000',
    CNC_NATS_NAK_DELAY_MS: '500',
    CNC_DATABASE_URL: databaseUrl,
    CNC_HTTP_PORT: '0',
    CNC_INGEST_SHUTDOWN_TIMEOUT_MS: '10000',
    CNC_LOG_SUMMARY_INTERVAL_MS: '1000',
    ...extra,
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export async function waitFor (what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await probe()) return
    } catch { /* the probed thing may be down: keep polling */ }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** Children still alive when the test process exits (a crash, a cancelled run) are killed with it. */
const live = new Set<ChildProcess>()
process.once('exit', () => { for (const c of live) c.kill('SIGKILL') })
function track (c: ChildProcess): ChildProcess {
  live.add(c)
  c.once('exit', () => live.delete(c))
  return c
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      s.close(() => resolve(port))
    })
  })
}

function portOpen (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port })
    c.once('connect', () => { c.destroy(); resolve(true) })
    c.once('error', () => resolve(false))
  })
}

function exited (child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

/** The PostgreSQL binaries refuse to run as root: run them as the postgres OS user then. */
function asPostgres (cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]
}

export class NatsServer {
  readonly port: number
  readonly #dir: string
  #proc: ChildProcess | undefined

  constructor (port: number, dir: string) {
    this.port = port
    this.#dir = dir
  }

  get url (): string { return `nats://127.0.0.1:${this.port}` }

  async start (): Promise<void> {
    this.#proc = track(spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.#dir], { stdio: 'ignore' }))
    await waitFor(`nats-server on ${this.port}`, () => portOpen(this.port), 15_000, 50)
  }

  /** SIGTERM (clean shutdown) or SIGKILL; waits for the process to be gone. */
  async stop (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const p = this.#proc
    if (p === undefined) return
    this.#proc = undefined
    p.kill(signal)
    await exited(p)
  }

  async restart (signal: 'SIGTERM' | 'SIGKILL', downMs = 0): Promise<void> {
    await this.stop(signal)
    await sleep(downMs)
    await this.start()
  }
}

export class PgCluster {
  readonly port: number
  readonly #dir: string
  readonly #log: string

  constructor (port: number, dir: string) {
    this.port = port
    this.#dir = dir
    this.#log = join(dir, '..', 'pg.log')
  }

  get adminUrl (): string { return `postgres://root@127.0.0.1:${this.port}/postgres` }
  get url (): string { return `postgres://root@127.0.0.1:${this.port}/${DATABASE}` }

  async init (): Promise<void> {
    const [cmd, args] = asPostgres(join(PG_BIN, 'initdb'), ['-D', this.#dir, '-U', 'root', '--auth=trust', '-E', 'UTF8', '--no-sync'])
    await run(cmd, args)
  }

  async start (): Promise<void> {
    // fsync off: the tests kill processes, never the machine, so the page cache survives every fault.
    const opts = `-h 127.0.0.1 -p ${this.port} -k ${this.#dir} -c fsync=off -c max_connections=60`
    const [cmd, args] = asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', this.#dir, '-o', opts, '-l', this.#log, '-w', 'start'])
    await run(cmd, args)
  }

  async stop (mode: 'fast' | 'immediate'): Promise<void> {
    const [cmd, args] = asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', this.#dir, '-m', mode, '-w', 'stop'])
    await run(cmd, args).catch(() => {})
  }

  /** Process ids of the backends serving the service's COPY writer. */
  async ingestBackends (): Promise<number[]> {
    const c = new pg.Client({ connectionString: this.url })
    await c.connect()
    try {
      const r = await c.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = 'cnc-monitor-ingest'")
      return r.rows.map((row) => row.pid)
    } finally {
      await c.end()
    }
  }

  logTail (): string {
    try { return readFileSync(this.#log, 'utf8').split('\n').slice(-30).join('\n') } catch { return '' }
  }
}

export interface ServiceOptions {
  /** Extra or overriding CNC_* variables. */
  readonly env?: Record<string, string>
}

/** One `node dist/main.js` child. Its pino lines are kept (the last 300) for failure messages. */
export class ServiceProc {
  readonly proc: ChildProcess
  readonly lines: string[] = []
  readonly exit: Promise<number | null>
  port = 0
  readonly #listening: Promise<number>

  /** `configFile`: the test's own (empty) file, so only schema defaults and `env` apply. */
  constructor (env: Record<string, string>, configFile: string) {
    const base: Record<string, string> = {}
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CNC_') && v !== undefined) base[k] = v
    this.proc = track(spawn(process.execPath, [join(ROOT, 'dist/main.js'), '--config', configFile], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }))
    this.exit = exited(this.proc)
    this.#listening = new Promise((resolve, reject) => {
      let rest = ''
      this.proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n')
        rest = parts.pop() ?? ''
        for (const line of parts) {
          this.lines.push(line)
          if (this.lines.length > 300) this.lines.shift()
          if (this.port === 0 && line.includes('"http server listening"')) {
            this.port = (JSON.parse(line) as { port: number }).port
            resolve(this.port)
          }
        }
      })
      this.proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.lines.push(chunk) })
      this.exit.then((code) => reject(new Error(`service exited (${code}) before listening:\n${this.lines.join('\n')}`)), () => {})
    })
    this.#listening.catch(() => {})
  }

  get pid (): number { return this.proc.pid ?? 0 }
  get alive (): boolean { return this.proc.exitCode === null && this.proc.signalCode === null }

  listening (): Promise<number> { return this.#listening }

  async readyz (): Promise<{ status: number, body: string }> {
    const r = await fetch(`http://127.0.0.1:${this.port}/readyz`, { signal: AbortSignal.timeout(3_000) })
    return { status: r.status, body: await r.text() }
  }

  async waitReady (timeoutMs = 30_000): Promise<void> {
    await this.listening()
    let last = 'no answer'
    try {
      await waitFor(`service ${this.pid} ready`, async () => {
        const r = await this.readyz()
        last = `${r.status} ${r.body}`
        return r.status === 200
      }, timeoutMs, 50)
    } catch (err) {
      // Say why: the last /readyz answer and the service's own last lines.
      throw new Error(`${(err as Error).message}; last /readyz: ${last}\n${this.log()}`)
    }
  }

  /** One Prometheus sample (sum over labels), NaN when absent. */
  async metric (name: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`, { signal: AbortSignal.timeout(3_000) })).text()
    let sum = Number.NaN
    for (const line of text.split('\n')) {
      if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum = (Number.isNaN(sum) ? 0 : sum) + Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    return sum
  }

  /** Resident set size in bytes, from /proc. */
  rss (): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1]) * 1024
  }

  kill (signal: NodeJS.Signals): void {
    if (this.alive) this.proc.kill(signal)
  }

  log (): string { return this.lines.slice(-40).join('\n') }
}

/** One fault test's private world. */
export class Faults {
  readonly dir: string
  readonly nats: NatsServer
  readonly pg: PgCluster
  readonly services: ServiceProc[] = []
  #nc: NatsConnection | undefined
  #jsm: JetStreamManager | undefined
  #db: pg.Pool | undefined

  private constructor (dir: string, natsPort: number, pgPort: number) {
    this.dir = dir
    this.nats = new NatsServer(natsPort, join(dir, 'nats'))
    this.pg = new PgCluster(pgPort, join(dir, 'pg'))
  }

  static async start (): Promise<Faults> {
    const dir = mkdtempSync(join(tmpdir(), 'cnc-faults-'))
    if (process.getuid?.() === 0) {
      const { uid, gid } = await postgresIds()
      chownSync(dir, uid, gid)
    }
    const f = new Faults(dir, await freePort(), await freePort())
    writeFileSync(join(dir, 'config.yaml'), '# fault tests: schema defaults and CNC_* variables only\n')
    await f.pg.init()
    await Promise.all([f.pg.start(), f.nats.start()])
    const admin = new pg.Client({ connectionString: f.pg.adminUrl })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${DATABASE}`)
    await admin.end()
    const jsm = await f.jsm()
    await jsm.streams.add({ name: STREAM, subjects: [`${STREAM}.>`] })
    return f
  }

  /** The CNC_* environment of a service bound to this world. */
  serviceEnv (extra: Record<string, string> = {}): Record<string, string> {
    return faultServiceEnv(this.nats.url, this.pg.url, extra)
  }

  spawnService (opts: ServiceOptions = {}): ServiceProc {
    const s = new ServiceProc(this.serviceEnv(opts.env), join(this.dir, 'config.yaml'))
    this.services.push(s)
    return s
  }

  /** A NATS connection to the private server (reconnects forever across restarts). */
  async nc (): Promise<NatsConnection> {
    this.#nc ??= await connect({ servers: this.nats.url, noAsyncTraces: true, maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    return this.#nc
  }

  async jsm (): Promise<JetStreamManager> {
    this.#jsm ??= await jetstreamManager(await this.nc())
    return this.#jsm
  }

  async query<R extends pg.QueryResultRow = Record<string, unknown>> (sql: string, params?: unknown[]): Promise<R[]> {
    if (this.#db === undefined) {
      this.#db = new pg.Pool({ connectionString: this.pg.url, max: 2 })
      // An idle connection dropped by a PostgreSQL restart must not crash the test process.
      this.#db.on('error', () => {})
    }
    return (await this.#db.query<R>(sql, params)).rows
  }

  /** Drops the test's own connections (before restarting a server under them). */
  async dropClients (): Promise<void> {
    const db = this.#db
    this.#db = undefined
    await db?.end().catch(() => {})
  }

  async stop (): Promise<void> {
    for (const s of this.services) s.kill('SIGKILL')
    await Promise.all(this.services.map((s) => s.exit))
    await this.dropClients()
    await this.#nc?.close().catch(() => {})
    await this.nats.stop('SIGKILL')
    await this.pg.stop('immediate')
    rmSync(this.dir, { recursive: true, force: true })
  }
}

async function postgresIds (): Promise<{ uid: number, gid: number }> {
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])])
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}

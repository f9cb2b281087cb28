/**
 * /readyz against dependencies we may stop: a private nats-server (JetStream, its own store dir)
 * and a private throwaway PostgreSQL cluster (initdb + pg_ctl as user postgres), both under /tmp.
 * Ready → NATS stops → 503 naming nats → NATS back → ready → PostgreSQL stops → 503 naming the
 * database → back → ready; 503 while starting and while draining. /livez stays 200 throughout.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { loadConfig } from '../../src/config/load.js'
import { Service } from '../../src/service.js'
import { silentLog, waitFor } from '../helpers/test-env.js'

const PG_BIN = '/usr/lib/postgresql/15/bin'
const canRun = existsSync(`${PG_BIN}/initdb`) && process.getuid?.() === 0 && existsSync('/usr/sbin/nats-server')

async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

const asPostgres = (cmd: string, args: string[]): void => {
  execFileSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/${cmd}`, ...args], { stdio: 'ignore' })
}

interface Ready { status: number, body: { status?: string, checks?: Record<string, string> } }

describe('readiness follows NATS and PostgreSQL', { skip: canRun ? false : 'needs root, nats-server and PostgreSQL 15 binaries' }, () => {
  let dir: string
  let natsPort: number
  let pgPort: number
  let nats: ChildProcess | undefined
  let service: Service
  let base: string

  const pgctl = (action: 'start' | 'stop'): void => asPostgres('pg_ctl', ['-D', `${dir}/pg`, '-w', '-l', `${dir}/pg.log`, ...(action === 'stop' ? ['-m', 'fast'] : ['-o', `-p ${pgPort} -k ${dir} -c listen_addresses=127.0.0.1`]), action])
  const startNats = async (): Promise<void> => {
    nats = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(natsPort), '-sd', `${dir}/nats`], { stdio: 'ignore' })
    await waitFor('nats-server to listen', () => new Promise<boolean>((resolve) => {
      const sock = connect(natsPort, '127.0.0.1', () => { sock.destroy(); resolve(true) })
      sock.once('error', () => resolve(false))
    }), 10_000)
  }
  const stopNats = async (): Promise<void> => {
    const child = nats
    if (child === undefined) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
    nats = undefined
  }
  const ready = async (): Promise<Ready> => {
    const r = await fetch(`${base}/readyz`)
    return { status: r.status, body: await r.json() as Ready['body'] }
  }

  before(async () => {
    dir = mkdtempSync('/tmp/cnc-api-ready-')
    execFileSync('chown', ['postgres', dir])
    natsPort = await freePort()
    pgPort = await freePort()
    asPostgres('initdb', ['-D', `${dir}/pg`, '-U', 'root', '--auth=trust', '-E', 'UTF8', '--no-sync'])
    pgctl('start')
    await startNats()
    const config = loadConfig([], {
      CNC_NATS_URL: `nats://127.0.0.1:${natsPort}`,
      CNC_DATABASE_URL: `postgres://root@127.0.0.1:${pgPort}/cnc_ready`,
      CNC_HTTP_PORT: '0',
      CNC_LOG_SUMMARY_INTERVAL_MS: '0',
      CNC_NATS_NAK_DELAY_MS: '200',
    })
    service = new Service(config, silentLog)
  })

  after(async () => {
    await service?.close().catch(() => {})
    await stopNats()
    try { pgctl('stop') } catch { /* already stopped */ }
    rmSync(dir, { recursive: true, force: true })
  })

  it('is 503 while starting, then ready', async () => {
    let started = false
    const starting = service.start().then(() => { started = true })
    await waitFor('the HTTP server', () => service.httpPort !== 0, 20_000, 1)
    base = `http://127.0.0.1:${service.httpPort}`
    const early = await ready()
    if (early.status === 200) assert.ok(started, 'ready only once started')
    else assert.equal(early.status, 503)
    assert.equal((await fetch(`${base}/livez`)).status, 200)
    await starting
    await waitFor('ready', async () => (await ready()).status === 200)
  })

  it('turns 503 naming nats when NATS stops, and ready when it returns', async () => {
    await stopNats()
    await waitFor('503 for nats', async () => {
      const r = await ready()
      return r.status === 503 && r.body.checks?.nats === 'disconnected'
    })
    assert.equal((await fetch(`${base}/livez`)).status, 200, 'livez checks nothing')
    await startNats()
    await waitFor('ready again after NATS returns', async () => (await ready()).status === 200, 30_000, 100)
  })

  it('turns 503 naming the database when PostgreSQL stops, and ready when it returns', async () => {
    pgctl('stop')
    await waitFor('503 for the database', async () => {
      const r = await ready()
      return r.status === 503 && r.body.checks?.database !== undefined
    })
    const q = await fetch(`${base}/api/v1/machines`)
    assert.equal(q.status, 503, 'queries answer 503 while the database is away')
    const body = await q.json() as { error: { code: string, message: string } }
    assert.equal(body.error.code, 'database_unavailable')
    assert.doesNotMatch(body.error.message, /ECONNREFUSED|terminat|postgres/i, 'no database text in a 5xx')
    pgctl('start')
    await waitFor('ready again after PostgreSQL returns', async () => (await ready()).status === 200, 30_000, 100)
    assert.equal((await fetch(`${base}/api/v1/machines`)).status, 200)
  })

  it('is 503 while draining', async () => {
    const closing = service.close()
    const r = await ready().catch(() => undefined)
    if (r !== undefined) {
      assert.equal(r.status, 503)
      assert.equal(r.body.checks?.service, 'draining')
    }
    await closing
  })
})

/**
 * The operator's first hour (issue 15), against `node --import tsx src/main.ts` as a child process:
 * arguments answered before connecting, the HTTP port taken, dependencies not up yet (private ports;
 * a private nats-server that comes up late), readable logs, and the process guard.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { freePort, NatsServer } from '../faults/harness.js'
import { emptyConfigFile, MainProc } from '../helpers/main-proc.js'
import { json, reading } from '../helpers/payloads.js'
import { createTestEnv, prefill, waitFor, waitSettled, type TestEnv } from '../helpers/test-env.js'

const CONFIG = emptyConfigFile()
const CRASH_HOOK = fileURLToPath(new URL('../helpers/crash-hook.mjs', import.meta.url))
/** Where nothing listens (a port just freed; nothing else on this box binds it within the test). */
const closedNats = async (): Promise<string> => `nats://127.0.0.1:${await freePort()}`
const closedPg = async (): Promise<string> => `postgres://root@127.0.0.1:${await freePort()}/cnc_unreachable`

function fatalLast (p: MainProc): Record<string, unknown> {
  const recs = p.records()
  const last = recs.at(-1)
  assert.equal(last?.level, 60, `the last line is the fatal one:\n${p.output()}`)
  assert.ok(!recs.some((r) => typeof r.msg === 'string' && r.msg.startsWith('stopped')), 'no "stopped" line on a failed start-up')
  for (const line of p.stdout) assert.ok(!line.includes('stack'), `no stack for an expected failure: ${line}`)
  return last ?? {}
}

/** Where a regression that starts the service anyway could do no harm: never the shared servers' defaults. */
const nowhere = async (): Promise<Record<string, string>> => ({ CNC_HTTP_PORT: '0', CNC_NATS_URL: await closedNats(), CNC_DATABASE_URL: await closedPg(), CNC_STARTUP_WAIT_MS: '0' })

describe('command line', () => {
  it('--help prints usage naming the config option and the variables, then exits 0 without connecting', async () => {
    const p = new MainProc(['--help'], await nowhere())
    assert.equal(await p.exit, 0, p.output())
    const text = p.stdout.join('\n')
    assert.match(text, /^Usage: cnc-monitor \[--config FILE\]/)
    assert.match(text, /CNC_NATS_URL \[nats:\/\/127\.0\.0\.1:4222\]/)
    assert.match(text, /CNC_STARTUP_WAIT_MS/)
    assert.doesNotMatch(text, /"msg"/, 'no log line: nothing started')
  })

  it('--version prints the version and exits 0', async () => {
    const p = new MainProc(['--version'], await nowhere())
    assert.equal(await p.exit, 0, p.output())
    assert.match(p.stdout[0] ?? '', /^cnc-monitor \d+\.\d+\.\d+/)
  })

  it('an unknown argument is one line on stderr and exit 2, before anything starts', async () => {
    const p = new MainProc(['--confg', CONFIG], await nowhere())
    assert.equal(await p.exit, 2, p.output())
    assert.deepEqual(p.stderr, ['cnc-monitor: unknown option "--confg" (try --help)'])
    assert.deepEqual(p.stdout, [])
  })
})

describe('start-up refused', () => {
  let holder: Server | undefined
  after(() => { holder?.close() })

  it('an HTTP port held by another process stops start-up with one line naming it (exit 2)', async () => {
    holder = createServer()
    const port = await new Promise<number>((resolve) => holder?.listen(0, '127.0.0.1', () => {
      const a = holder?.address()
      resolve(typeof a === 'object' && a !== null ? a.port : 0)
    }))
    const p = new MainProc(['--config', CONFIG], { ...await nowhere(), CNC_HTTP_PORT: String(port) })
    assert.equal(await p.exit, 2, p.output())
    const fatal = fatalLast(p)
    assert.equal(fatal.code, 'HTTP_LISTEN_FAILED')
    assert.match(String(fatal.msg), new RegExp(`127\\.0\\.0\\.1:${port}.*address in use`))
  })

  it('a second instance on the same port stops with that line (uWS would share the port by default)', async () => {
    // The first instance listens, then waits for a PostgreSQL that never answers: it holds the port.
    const first = new MainProc(['--config', CONFIG], { ...await nowhere(), CNC_STARTUP_WAIT_MS: '120000' })
    let second: MainProc | undefined
    try {
      const port = await first.port()
      second = new MainProc(['--config', CONFIG], { ...await nowhere(), CNC_HTTP_PORT: String(port), CNC_STARTUP_WAIT_MS: '120000' })
      assert.equal(await second.exit, 2, second.output())
      assert.equal(fatalLast(second).code, 'HTTP_LISTEN_FAILED')
      assert.equal(first.proc.exitCode, null, 'the first instance is unaffected')
    } finally {
      first.kill()
      second?.kill()
    }
  })

  it('NATS unreachable: one line per attempt, then exit 2 with one fatal line naming it', async () => {
    const url = await closedNats()
    const t = await createTestEnv('STARTUPN')
    try {
      const p = new MainProc(['--config', CONFIG], { ...t.env, CNC_NATS_URL: url, CNC_STARTUP_WAIT_MS: '2000' })
      assert.equal(await p.exit, 2, p.output())
      // How many attempts fit in 2 s depends on the machine's load; one line for each, and at least a retry.
      const retries = p.records().filter((r) => r.stage === 'startup' && r.level === 40)
      assert.ok(retries.length >= 1, `retried within 2 s:\n${p.output()}`)
      for (const r of retries) assert.match(String(r.msg), /^NATS not reachable at nats:\/\/127\.0\.0\.1:\d+ \(.+\): retrying in \d+ ms$/)
      const fatal = fatalLast(p)
      assert.equal(fatal.code, 'NATS_UNAVAILABLE')
      assert.match(String(fatal.msg), new RegExp(`^NATS not reachable at ${url.replaceAll('.', '\\.')} after ${retries.length + 1} attempts \\(startup\\.wait_ms\\): connection refused$`))
    } finally {
      await t.cleanup()
    }
  })

  it('PostgreSQL unreachable: the same, in the pretty format', async () => {
    const p = new MainProc(['--config', CONFIG], { ...await nowhere(), CNC_STARTUP_WAIT_MS: '1000', CNC_LOG_FORMAT: 'pretty' })
    assert.equal(await p.exit, 2, p.output())
    const time = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}'
    const retries = p.stdout.filter((l) => l.includes('[startup]'))
    assert.ok(retries.length >= 1, p.output())
    for (const l of retries) assert.match(l, new RegExp(`^${time} WARN  \\[startup\\] PostgreSQL not reachable at postgres://root@127\\.0\\.0\\.1:\\d+/cnc_unreachable \\(.*ECONNREFUSED.*\\): retrying in \\d+ ms attempt=\\d+ retry_in_ms=\\d+ ms `))
    assert.match(p.stdout.at(-1) ?? '', new RegExp(`^${time} FATAL PostgreSQL not reachable at .* after \\d+ attempts? \\(startup\\.wait_ms\\): .*ECONNREFUSED.* code=DB_UNAVAILABLE$`))
    assert.ok(!p.stdout.some((l) => l.includes('stopped')))
  })
})

describe('NATS coming up after the service', () => {
  let t: TestEnv
  let dir: string
  let nats: NatsServer | undefined
  before(async () => {
    t = await createTestEnv('STARTUPL')
    dir = mkdtempSync(join(tmpdir(), 'cnc-startup-nats-'))
  })
  after(async () => {
    await nats?.stop()
    await t.cleanup()
    rmSync(dir, { recursive: true, force: true })
  })

  it('is waited for, and the service becomes ready once it answers', async () => {
    nats = new NatsServer(await freePort(), dir)
    const p = new MainProc(['--config', CONFIG], { ...t.env, CNC_NATS_URL: nats.url, CNC_STARTUP_WAIT_MS: '120000' })
    try {
      await waitFor('a retry line', () => p.records().some((r) => r.stage === 'startup'), 60_000)
      await nats.start()
      await p.waitReady()
      p.kill('SIGTERM')
      assert.equal(await p.exit, 0, p.output())
    } finally {
      p.kill()
    }
  })
})

describe('process guard', () => {
  let t: TestEnv
  before(async () => { t = await createTestEnv('STARTUPG') })
  after(async () => { await t.cleanup() })

  for (const kind of ['exception', 'rejection'] as const) {
    it(`an unhandled ${kind} is one fatal line, then a drain and exit 1; nothing lost or duplicated`, async () => {
      const p = new MainProc(['--config', CONFIG], { ...t.env, CRASH_KIND: kind }, [CRASH_HOOK])
      try {
        await p.waitReady()
        const n = 200
        await prefill(t, Array.from({ length: n }, (_, i) => json(reading(`GUARD-${kind}`, i))))
        await waitSettled(t, 60_000)
        p.kill('SIGUSR2')
        assert.equal(await p.exit, 1, p.output())
        const recs = p.records()
        const fatal = recs.findIndex((r) => r.level === 60)
        assert.ok(fatal >= 0, p.output())
        const rec = recs[fatal] ?? {}
        assert.equal(rec.msg, `${kind === 'exception' ? 'uncaught exception' : 'unhandled rejection'}: draining, then exiting with status 1`)
        assert.equal((rec.err as { message?: string } | undefined)?.message, `injected ${kind}`)
        assert.ok(recs.slice(fatal).some((r) => r.msg === 'stopped cleanly'), 'drained after the fatal line')
        const rows = await t.query<{ n: string, d: string }>('SELECT count(*) AS n, count(DISTINCT active_program_line) AS d FROM sensor_data WHERE machine_id = $1', [`GUARD-${kind}`])
        assert.deepEqual(rows[0], { n: String(n), d: String(n) })
        const ci = await t.consumerInfo()
        assert.equal(ci.num_ack_pending, 0)
      } finally {
        p.kill()
      }
    })
  }
})

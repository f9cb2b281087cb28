/**
 * Hostile-publisher soak (issue 10): for 10 s (60 s with FAULTS_FULL=1) a publisher mixes valid
 * readings with payloads up to 1 MB, deep nesting, invalid UTF-8, overflowing numbers, long machine
 * ids, lone surrogates and bursts (hostile-load.ts), while the service runs as a child process.
 * Checked: the same process runs from start to end (never exits, never restarts), every message is
 * exactly one row or one dead letter with its expected reason, and the consumer settles. The
 * process's peak RSS (VmHWM) is printed.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { FULL, Faults, waitFor } from './harness.js'
import { HostilePublisher } from './hostile-load.js'
import { assertAccounting } from './load.js'

const DURATION_MS = FULL ? 60_000 : 10_000
/** The same cap as the backlog test: batches are bounded in bytes, so hostile sizes must not raise it. */
const RSS_CAP = Number(process.env.FAULTS_RSS_CAP_MB ?? 400) * 1_048_576

function status (pid: number, key: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) * 1024
}

const mb = (bytes: number): string => (bytes / 1_048_576).toFixed(1) + ' MB'

describe('hostile-publisher soak', () => {
  let f: Faults
  before(async () => { f = await Faults.start() })
  after(async () => { await f?.stop() })

  it(`survives ${DURATION_MS / 1000} s of hostile publishing with exact accounting`, async (t) => {
    const nc = await f.nc()
    assert.ok((nc.info?.max_payload ?? 0) >= 1_000_900, `the private nats-server takes 1 MB payloads (max_payload ${nc.info?.max_payload})`)
    const s = f.spawnService({ env: { CNC_INGEST_BATCH_SIZE: '2000' } })
    await s.waitReady(60_000)
    const pid = s.pid
    let exited = false
    s.exit.then(() => { exited = true }, () => { exited = true })

    let peakRss = 0
    const sampler = setInterval(() => {
      try { peakRss = Math.max(peakRss, status(pid, 'VmRSS')) } catch { /* gone: asserted below */ }
    }, 200)
    const pub = new HostilePublisher(f)
    const started = Date.now()
    try {
      await pub.run(DURATION_MS)
      const publishMs = Date.now() - started
      const a = await assertAccounting(f, { valid: pub.valid, published: pub.published }, FULL ? 300_000 : 120_000)
      assert.equal(exited, false, `the service never exited:\n${s.log()}`)
      assert.equal(s.alive, true, 'the process that started is the one still running')
      const reasons = await f.query<{ reason: string, n: string }>('SELECT reason, count(*) AS n FROM rejected_messages GROUP BY 1 ORDER BY 1')
      assert.deepEqual(Object.fromEntries(reasons.map((r) => [r.reason, Number(r.n)])), Object.fromEntries([...pub.expected.entries()].sort()), 'each dead letter with its expected reason')
      const [big] = await f.query<{ max: number | null }>("SELECT max(length(payload)) AS max FROM rejected_messages WHERE reason = 'payload_too_large'")
      assert.ok((big?.max ?? 0) <= 1024, 'an oversized payload is kept as its 1 KiB prefix')
      const hwm = status(pid, 'VmHWM')
      peakRss = Math.max(peakRss, hwm)
      const line = `hostile soak: ${pub.published} messages in ${(publishMs / 1000).toFixed(1)} s (${pub.valid} valid → ${a.distinct} rows, ` +
        `${a.rejected} dead letters, ${a.rows - a.distinct} duplicates; ${mb(pub.oversizedBytes)} in oversized payloads); ` +
        `service pid ${pid} peak RSS ${mb(peakRss)} (VmHWM ${mb(hwm)})`
      t.diagnostic(line)
      console.log(line)
      assert.ok(peakRss < RSS_CAP, `peak RSS ${mb(peakRss)} under the cap ${mb(RSS_CAP)}`)
      await waitFor('the service to still answer /livez', async () => (await fetch(`http://127.0.0.1:${s.port}/livez`)).status === 200, 10_000)
    } finally {
      clearInterval(sampler)
    }
  })
})

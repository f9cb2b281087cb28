/**
 * Fault 10 (full runs only, needs root to mount): a real full disk. `sensor_data` is moved to a
 * tablespace on a small tmpfs, which is then filled, so PostgreSQL refuses every row with 53100
 * ("could not extend file") while `SELECT 1` and its WAL (on the normal disk) still work. Readings
 * published meanwhile wait; /readyz answers 503 naming the refusal; once the space is freed every
 * reading is stored once within 15 s.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chownSync, closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { FULL, Faults, sleep, waitFor } from './harness.js'
import { assertAccounting, prefill, rowCount } from './load.js'

const run = promisify(execFile)
const TOTAL = 20_000
const canRun = FULL && process.getuid?.() === 0

/** Writes to `file` until the filesystem is full, in ever smaller pieces down to one byte. */
function fill (file: string): number {
  const fd = openSync(file, 'w')
  let written = 0
  try {
    for (let size = 1 << 20; size >= 1; size >>= 1) {
      const chunk = Buffer.alloc(size, 1)
      for (;;) {
        try {
          written += writeSync(fd, chunk)
        } catch {
          break
        }
      }
    }
  } finally {
    closeSync(fd)
  }
  return written
}

describe('fault 10: a real full disk under sensor_data', { skip: canRun ? false : 'full runs only (FAULTS_FULL=1), as root' }, () => {
  let f: Faults
  let mnt = ''
  before(async () => {
    f = await Faults.start()
    mnt = join(f.dir, 'small')
    mkdirSync(mnt)
    await run('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mnt])
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    chownSync(mnt, Number(stdout.trim()), Number(gid.trim()))
  })
  after(async () => {
    for (const s of f?.services ?? []) s.kill('SIGKILL')
    await Promise.all((f?.services ?? []).map((s) => s.exit))
    await f?.pg.stop('immediate')
    if (mnt !== '') await run('umount', ['-l', mnt]).catch(() => {})
    await f?.stop()
  })

  it('reports the refusal, waits, and stores every reading once within 15 s of space coming back', async (t) => {
    const s = f.spawnService()
    await s.waitReady()
    await f.query(`CREATE TABLESPACE small LOCATION '${mnt}'`)
    await f.query('ALTER TABLE sensor_data SET TABLESPACE small')
    const filler = join(mnt, 'filler')
    const filled = fill(filler)
    await prefill(f, 0, TOTAL)
    await waitFor('/readyz to name the refusal', async () => (await s.readyz()).body.includes('writes refused: SQLSTATE 53100'), 30_000, 100)
    let refused = 0
    let other = 0
    const until = Date.now() + 5_000
    while (Date.now() < until) {
      const r = await s.readyz().catch(() => ({ status: 0, body: '' }))
      if (r.status === 503 && r.body.includes('writes refused')) refused++
      else other++
      await sleep(100)
    }
    const stored = await rowCount(f)
    rmSync(filler)
    const freedAt = Date.now()
    await waitFor('every reading stored', async () => (await rowCount(f)) >= TOTAL, 60_000, 50)
    const recoveryMs = Date.now() - freedAt
    const acc = await assertAccounting(f, { valid: TOTAL, published: TOTAL })
    t.diagnostic(`filler ${(filled / 1048576).toFixed(1)} MB; rows while full ${stored}; /readyz while full: ${refused} × 503 writes refused, ${other} × other; ` +
      `recovery ${recoveryMs} ms; nak'd ${await s.metric('cnc_messages_nakd_total')}; accounts ${JSON.stringify(acc)}`)
    assert.equal(other, 0, 'every /readyz answered 503 naming the refusal while the disk was full')
    assert.ok(recoveryMs < 15_000, `recovered in ${recoveryMs} ms`)
    await s.waitReady(15_000)
    assert.ok(s.alive)
  })
})

/**
 * The original design's data path in Go (issue 15, with Go installed): test/compat/original-client
 * marshals readings with the original SensorData struct (json.Marshal, time.Now().UTC()), they go
 * through NATS into the service, and the same program, as a client built on the original
 * SensorData/Machine structs, registers a machine and reads the data back following Link
 * rel="next". Skipped, saying so, when `go` is not on the PATH (Debian: apt-get install golang-go);
 * api-compat.test.ts checks the same contract in TypeScript on every run.
 */
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import { jetstream } from '@nats-io/jetstream'
import { parseRfc3339BigMicros } from '../../src/parse/timestamp.js'
import type { Service } from '../../src/service.js'
import { startService } from '../helpers/service.js'
import { createTestEnv, waitSettled, type TestEnv } from '../helpers/test-env.js'

const run = promisify(execFile)
const SOURCE = join(dirname(fileURLToPath(import.meta.url)), '..', 'compat', 'original-client')

function goVersion (): string | null {
  try {
    return execFileSync('go', ['version'], { encoding: 'utf8' }).trim()
  } catch {
    return null
  }
}

const go = goVersion()
const skip = go === null ? 'go is not installed (apt-get install golang-go); api-compat.test.ts covers the contract in TypeScript' : false

describe('the original Go structs, unchanged, against the service', { skip }, () => {
  let t: TestEnv
  let service: Service
  let work: string
  let bin: string

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'cnc-go-client-'))
    bin = join(work, 'original-client')
    // GOPATH mode, no network: the program uses the standard library only.
    const env = { ...process.env, GO111MODULE: 'off', GOPATH: work, GOCACHE: join(work, 'cache'), GOFLAGS: '', GOPROXY: 'off' }
    await run('go', ['build', '-o', bin, '.'], { cwd: SOURCE, env })
    t = await createTestEnv('COMPATGO')
    service = await startService(t, { CNC_INGEST_LINGER_MS: '10' })
  })
  after(async () => {
    await service?.close()
    await t?.cleanup()
    if (work !== undefined) rmSync(work, { recursive: true, force: true })
  })

  it(`publishes with json.Marshal(SensorData) and reads back into []SensorData (${go ?? 'no go'})`, async () => {
    const n = 50
    const { stdout } = await run(bin, ['marshal', 'CNC-GO-1', String(n)])
    const lines = stdout.trim().split('\n')
    assert.equal(lines.length, n)
    const js = jetstream(t.nc)
    for (const line of lines) await js.publish(`${t.stream}.metrics`, new TextEncoder().encode(line))
    await waitSettled(t)
    const out = await run(bin, ['check', `http://127.0.0.1:${service.httpPort}`, 'CNC-GO-1', String(n)])
    const summary = JSON.parse(out.stdout) as { machines: number, readings: number, pages: number, first: Record<string, unknown> }
    assert.equal(summary.readings, n)
    assert.equal(summary.machines, 1)
    assert.ok(summary.pages >= 3, `followed rel="next" (${summary.pages} pages)`)
    const sent = JSON.parse(lines[0] as string) as Record<string, unknown>
    assert.deepEqual({ ...summary.first, timestamp: null }, { ...sent, timestamp: null }, 'every field as the publisher sent it')
    assert.equal(parseRfc3339BigMicros(summary.first.timestamp as string), parseRfc3339BigMicros(sent.timestamp as string), 'the timestamp to the microsecond')
  })
})

/**
 * The operator page end to end: Debian's chromium (driven by playwright-core) loads / from a
 * running service, a reading published to NATS shows in the fleet table within 2 s, the machine
 * view draws, the page fetches nothing from another origin, and a screenshot is saved to
 * test/artifacts/operator-page.png. Chromium comes from `.ci/tools.sh` (apt) where missing.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { chromium, type Browser, type Page } from 'playwright-core'
import { Service } from '../../src/service.js'
import { json, reading } from '../helpers/payloads.js'
import { createTestEnv, prefill, silentLog, waitSettled, type TestEnv } from '../helpers/test-env.js'

const CHROMIUM = '/usr/bin/chromium'
const ARTIFACTS = 'test/artifacts'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
  '--no-first-run', '--disable-component-update', '--disable-sync']

const now = (n: number, extra: Record<string, unknown>): string =>
  json(reading('E2E-LIVE', n, { timestamp: new Date().toISOString(), ...extra }))

describe('operator page', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} missing (run .ci/tools.sh)` }, () => {
  let t: TestEnv
  let service: Service
  let browser: Browser
  let page: Page
  const foreign: string[] = []
  const errors: string[] = []

  before(async () => {
    t = await createTestEnv('E2E')
    service = new Service(t.config({ CNC_INGEST_LINGER_MS: '10' }), silentLog)
    await service.start()
    await prefill(t, [json(reading('E2E-OLD', 1, { machine_state: 'IDLE' }))])
    await waitSettled(t)
    // A fresh temporary profile per launch (playwright makes and removes it).
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS })
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const origin = `http://127.0.0.1:${service.httpPort}`
    page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith(origin.replace('http', 'ws'))) foreign.push(r.url()) })
    page.on('pageerror', (e) => errors.push(e.message))
  })
  after(async () => {
    await browser?.close()
    await service?.close()
    await t?.cleanup()
  })

  it('shows the fleet, then a reading published to NATS within 2 s, and the machine view', async () => {
    await page.goto(`http://127.0.0.1:${service.httpPort}/`)
    await page.waitForSelector('#live-status[data-status="live"]', { timeout: 10_000 })
    const old = page.locator('tr[data-machine="E2E-OLD"]')
    await old.waitFor({ timeout: 5_000 })
    assert.equal(await old.locator('[data-field="state"]').textContent(), 'IDLE')
    assert.match(await old.getAttribute('class') ?? '', /stale/)

    const published = Date.now()
    t.nc.publish(`${t.stream}.metrics`, new TextEncoder().encode(now(1, { temperature: 77.7, spindle_load_percent: 63.2, machine_state: 'RUNNING' })))
    const cell = page.locator('tr[data-machine="E2E-LIVE"] [data-field="temperature"]')
    await cell.filter({ hasText: '77.7' }).waitFor({ timeout: 2_000 })
    const shownAfter = Date.now() - published
    assert.ok(shownAfter < 2_000, `shown ${shownAfter} ms after publish`)
    const live = page.locator('tr[data-machine="E2E-LIVE"]')
    assert.equal(await live.locator('[data-field="spindle_load_percent"]').textContent(), '63.2')
    assert.doesNotMatch(await live.getAttribute('class') ?? '', /stale/)

    await live.click()
    await page.waitForSelector('#machine-section:not([hidden])')
    assert.equal(await page.locator('#machine-id').textContent(), 'E2E-LIVE')
    for (let i = 2; i <= 6; i++) {
      t.nc.publish(`${t.stream}.metrics`, new TextEncoder().encode(now(i, { temperature: 70 + i, spindle_load_percent: 40 + 3 * i })))
      await new Promise((resolve) => setTimeout(resolve, 150))
    }
    await cell.filter({ hasText: '76.0' }).waitFor({ timeout: 2_000 })
    await page.locator('#h-rate').filter({ hasNotText: '–' }).waitFor({ timeout: 5_000 })
    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: `${ARTIFACTS}/operator-page.png`, fullPage: true })
    process.stderr.write(`# reading shown ${shownAfter} ms after publish; screenshot ${ARTIFACTS}/operator-page.png\n`)

    assert.deepEqual(foreign, [], 'the page works offline: nothing from another origin')
    assert.deepEqual(errors, [])
  })
})

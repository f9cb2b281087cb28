/**
 * CI smoke of the benchmark suite: PERF_QUICK=1 runs every phase at cut-down sizes (the baselines
 * are skipped) against the built service (dist/, which `npm test` builds first). Asserts only that it completes and prints the table;
 * speed is never asserted in tests (figures live in bench/RESULTS.md).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { it } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

it('make perf in PERF_QUICK=1 mode completes and prints one filled table', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cnc-perf-'))
  try {
    const env: Record<string, string> = { PERF_QUICK: '1', PERF_RESULTS_DIR: dir }
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('CNC_') && !k.startsWith('NODE_V8_COVERAGE')) env[k] = v
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/perf.ts'], { cwd: ROOT, env, encoding: 'utf8', timeout: 170_000 })
    assert.equal(run.status, 0, `perf exited ${run.status}: ${run.stderr.slice(-2000)}`)
    const table = run.stdout.split('\n').filter((l) => l.startsWith('| '))
    assert.ok(table[0]?.startsWith('| phase'), 'table header printed')
    for (const phase of ['1 seed', '2 baselines', '3 drain', '4 batched', '5 live', '6 micro']) {
      assert.ok(table.some((l) => l.startsWith(`| ${phase}`)), `a row for phase ${phase}`)
    }
    for (const row of table.slice(1)) {
      const cells = row.split('|').slice(1, -1).map((c) => c.trim())
      assert.ok(cells.slice(0, 4).every((c) => c !== ''), `row filled: ${row}`)
    }
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('-quick.json')).length, 1, 'results JSON written')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

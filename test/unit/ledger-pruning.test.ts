/**
 * Ledger pruning (src/write/ledger-pruning.ts): nothing before the minimum age, nothing while the
 * stream identity is in doubt or changes under the floor, both deletes otherwise, none after close();
 * live_commits by age in every round.
 * No database: the SQL client records its statements; the interval runs on mocked timers.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import { pino } from 'pino'
import type { SqlClient, SqlResult } from '../../src/write/sql-client.js'
import { LEDGER_PRUNE_EVERY_MS, LedgerPruning } from '../../src/write/ledger-pruning.js'

const silent = pino({ level: 'silent' }, new Writable({ write (_c, _e, done) { done() } }))

function recordingDb (): { db: SqlClient, calls: unknown[][] } {
  const calls: unknown[][] = []
  const db: SqlClient = {
    async query<R extends object> (_text: string, params?: unknown[]): Promise<SqlResult<R>> {
      calls.push(params ?? [])
      return { rows: [], rowCount: 1 }
    },
  }
  return { db, calls }
}

/** Yields to the event loop until `cond` holds; mocked Date does not move, so turns are counted. */
async function until (what: string, cond: () => boolean): Promise<void> {
  for (let turn = 0; turn < 10_000; turn++) {
    if (cond()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error(`never happened: ${what}`)
}

describe('ledger pruning', () => {
  beforeEach(() => { mock.timers.enable({ apis: ['setInterval', 'Date'] }) })
  afterEach(() => { mock.timers.reset() })

  // Minimum age 2 × max(ack wait, backoff) + 15 min = 930 s: 31 intervals of 30 s.
  const ROUNDS_TO_AGE = 31
  const opts = { stream: 'S', ackWaitMs: 1_000, backoffMs: [15_000], liveCommitsMaxAgeS: 3_600, log: silent }
  assert.equal(2 * 15_000 + 15 * 60_000, ROUNDS_TO_AGE * LEDGER_PRUNE_EVERY_MS)
  // One interval at a time: each round then reads the clock of its own firing.
  const intervals = (n: number): void => { for (let i = 0; i < n; i++) mock.timers.tick(LEDGER_PRUNE_EVERY_MS) }

  it('waits for the minimum age, skips while the identity is in doubt, then prunes both; none after close()', async () => {
    const { db, calls } = recordingDb()
    let problem: string | null = null
    let floors = 0
    const pruning = new LedgerPruning({ ...opts, db, streamKey: () => 'S@1', streamProblem: () => problem, ackFloor: async () => { floors++; return 500 } })
    pruning.start()
    intervals(ROUNDS_TO_AGE - 1)
    assert.equal(floors, 0, 'younger than the minimum age: nothing asked')
    intervals(1)
    await until('a pruning round', () => calls.length === 3)
    assert.deepEqual(calls, [[3_600], ['S@1', 500, 930], ['S', 'S@1', 930]], 'live commits (any identity), then the ledger')

    problem = 'stream recreated'
    intervals(1)
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(floors, 1, 'identity in doubt: no floor asked')
    pruning.close()
    intervals(10)
    assert.equal(floors, 1, 'closed: no more rounds')
  })

  it('drops a round whose stream identity moved while the floor was asked for', async () => {
    const { db, calls } = recordingDb()
    let key = 'S@1'
    let floors = 0
    const pruning = new LedgerPruning({ ...opts, db, streamKey: () => key, streamProblem: () => null, ackFloor: async () => { floors++; key = 'S@2'; return 900 } })
    pruning.start()
    intervals(ROUNDS_TO_AGE)
    await until('the floor asked', () => floors === 1)
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(calls, [[3_600]], 'the floor may belong to another stream: no ledger range pruned (live commits are by age only)')
    pruning.close()
  })
})

/**
 * The alarm state machine (src/alarms/rules.ts) on hand-made series: min duration, hysteresis, nulls,
 * machine filters, and the same episodes whatever the readings are split into (each piece resumes
 * from the state the previous one left, as the evaluator does from alarm_state).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { loadConfig } from '../../src/config/load.js'
import { compileRule, IDLE, step, type AlarmPhase, type AlarmRuleConfig, type AlarmTransition } from '../../src/alarms/rules.js'

const S = 1_000_000
const hot: AlarmRuleConfig = { name: 'hot', field: 'temperature', comparison: '>', threshold: 85, min_duration_seconds: 10, clear_hysteresis: 5, severity: 'critical' }

function run (cfg: AlarmRuleConfig, series: ReadonlyArray<readonly [number, number | null]>, from: AlarmPhase = IDLE): { out: AlarmTransition[], phase: AlarmPhase } {
  const rule = compileRule(cfg)
  const out: AlarmTransition[] = []
  let phase = from
  for (const [t, v] of series) phase = step(rule, phase, t * S, v, out)
  return { out, phase }
}

describe('alarm rules', () => {
  it('opens after min_duration of breach, starting at the first breaching reading, and clears past the hysteresis', () => {
    const { out, phase } = run(hot, [[0, 80], [1, 86], [5, 90], [10, 88], [11, 95], [12, 84], [13, 81], [14, 79], [15, 86]])
    assert.deepEqual(out, [
      { type: 'open', startedUs: 1 * S, atUs: 11 * S, peak: 95 },
      { type: 'clear', startedUs: 1 * S, endedUs: 14 * S, peak: 95 },
    ])
    assert.deepEqual(phase, { type: 'pending', since: 15 * S, peak: 86 })
  })

  it('a breach shorter than min_duration, or interrupted, opens nothing', () => {
    assert.deepEqual(run(hot, [[0, 90], [5, 90], [9, 84], [12, 90], [21, 90]]).out, [])
  })

  it('min_duration 0 opens on the first breaching reading; nulls are skipped', () => {
    const { out } = run({ ...hot, min_duration_seconds: 0, clear_hysteresis: 0 }, [[0, 85], [1, 85.5], [2, null], [3, 85]])
    assert.deepEqual(out, [{ type: 'open', startedUs: 1 * S, atUs: 1 * S, peak: 85.5 }, { type: 'clear', startedUs: 1 * S, endedUs: 3 * S, peak: 85.5 }])
  })

  it('< rules track the minimum and clear above threshold + hysteresis', () => {
    const low: AlarmRuleConfig = { ...hot, name: 'low', comparison: '<', threshold: 10, min_duration_seconds: 2, clear_hysteresis: 1 }
    assert.deepEqual(run(low, [[0, 9], [1, 5], [2, 8], [3, 10.5], [4, 11]]).out, [
      { type: 'open', startedUs: 0, atUs: 2 * S, peak: 5 },
      { type: 'clear', startedUs: 0, endedUs: 4 * S, peak: 5 },
    ])
  })

  it('gives the same episodes however the series is cut', () => {
    const series: Array<[number, number]> = []
    for (let i = 0; i < 400; i++) series.push([i, 80 + 10 * Math.sin(i / 7) + (i % 13 === 0 ? 7 : 0)])
    const whole = run(hot, series).out
    assert.ok(whole.length >= 4, `expected several episodes, got ${whole.length}`)
    for (const cut of [1, 7, 50, 199]) {
      const out: AlarmTransition[] = []
      let phase: AlarmPhase = IDLE
      for (let i = 0; i < series.length; i += cut) {
        const r = run(hot, series.slice(i, i + cut), phase)
        out.push(...r.out)
        phase = r.phase
      }
      assert.deepEqual(out, whole, `cut every ${cut}`)
    }
  })

  it('machine filters: exact ids and prefixes', () => {
    const r = compileRule({ ...hot, machines: ['CNC-001', 'LATHE-*'] })
    assert.deepEqual(['CNC-001', 'CNC-002', 'LATHE-7', 'LATHE'].map(r.appliesTo), [true, false, true, false])
    assert.equal(compileRule(hot).appliesTo('anything'), true)
  })

  it('config: rules come as JSON in the environment; a repeated name or an unknown field is one line naming the key', () => {
    const one = { name: 'hot', field: 'temperature', comparison: '>', threshold: 85 }
    const c = loadConfig([], { CNC_ALARMS_RULES: JSON.stringify([one]) })
    assert.deepEqual(c.alarms.rules, [{ ...one, min_duration_seconds: 0, clear_hysteresis: 0, severity: 'warning' }])
    assert.throws(() => loadConfig([], { CNC_ALARMS_RULES: JSON.stringify([one, one]) }), /alarms\.rules: two rules are named "hot"/)
    assert.throws(() => loadConfig([], { CNC_ALARMS_RULES: JSON.stringify([{ ...one, field: 'machine_state' }]) }), /alarms\.rules/)
  })

  it('reports the cost of step() per reading and rule', (t) => {
    const rule = compileRule(hot)
    const out: AlarmTransition[] = []
    let phase: AlarmPhase = IDLE
    const n = 1_000_000
    const started = performance.now()
    for (let i = 0; i < n; i++) {
      phase = step(rule, phase, i * 100_000, 80 + (i % 200) / 10, out)
      out.length = 0
    }
    t.diagnostic(`step(): ${((performance.now() - started) * 1e6 / n).toFixed(1)} ns per reading and rule`)
  })
})

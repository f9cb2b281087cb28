/**
 * Alarm rules and the per-(machine, rule) state machine, pure (no I/O) so it can be unit-tested and
 * replayed: the same readings in the same order always give the same episodes.
 *
 *            breach                 breach held ≥ min_duration
 *   idle ───────────▶ pending ─────────────────────────────────▶ active ──┐
 *    ▲                   │ no breach                                      │ value past the clear level
 *    └───────────────────┘◀───────────────────────────────────────────────┘ (threshold ∓ clear_hysteresis)
 *
 * An episode starts at the first reading of the breach (started_at) and exists once a reading at least
 * min_duration later still breaches, every reading in between breaching too; it ends at the first
 * reading past the clear level (ended_at). Between threshold and clear level an active alarm stays
 * active. A reading whose field is null says nothing about the rule and is skipped. The peak is the
 * most extreme value from started_at to ended_at (max for > and >=, min for < and <=).
 */

import type { AlarmField, AlarmRuleConfig, Comparison, Severity } from '../config/schema.js'

export type { AlarmField, AlarmRuleConfig, Comparison, Severity }

export interface AlarmRule extends AlarmRuleConfig {
  readonly minDurationUs: number
  readonly breach: (v: number) => boolean
  readonly cleared: (v: number) => boolean
  /** The more extreme of two values in the rule's direction. */
  readonly worse: (a: number, b: number) => number
  readonly appliesTo: (machineId: string) => boolean
}

const BREACH: Record<Comparison, (t: number) => (v: number) => boolean> = {
  '>': (t) => (v) => v > t,
  '>=': (t) => (v) => v >= t,
  '<': (t) => (v) => v < t,
  '<=': (t) => (v) => v <= t,
}

export function compileRule (c: AlarmRuleConfig): AlarmRule {
  const t = c.threshold
  const h = c.clear_hysteresis
  const upward = c.comparison === '>' || c.comparison === '>='
  const breach = BREACH[c.comparison](t)
  // With zero hysteresis the clear level is the threshold itself: cleared exactly when not breaching.
  const cleared = upward ? (v: number) => !breach(v) && v <= t - h : (v: number) => !breach(v) && v >= t + h
  const exact = new Set<string>()
  const prefixes: string[] = []
  for (const m of c.machines ?? []) {
    if (m.endsWith('*')) prefixes.push(m.slice(0, -1))
    else exact.add(m)
  }
  const every = exact.size === 0 && prefixes.length === 0
  return {
    ...c,
    minDurationUs: Math.round(c.min_duration_seconds * 1e6),
    breach,
    cleared,
    worse: upward ? Math.max : Math.min,
    appliesTo: (id) => every || exact.has(id) || prefixes.some((p) => id.startsWith(p)),
  }
}

/** Evaluation state of one (machine, rule); times in µs since 1970. */
export type AlarmPhase =
  | { readonly type: 'idle' }
  | { readonly type: 'pending', readonly since: number, readonly peak: number }
  | { readonly type: 'active', readonly since: number, readonly peak: number, readonly alarmId: string | null }

export const IDLE: AlarmPhase = { type: 'idle' }

/** What a reading did to an episode. `open` and `clear` may both come from one pass, in order. */
export type AlarmTransition =
  | { readonly type: 'open', readonly startedUs: number, readonly atUs: number, readonly peak: number }
  | { readonly type: 'clear', readonly startedUs: number, readonly endedUs: number, readonly peak: number }

/** Advances the state by one reading (time `t` µs, value `v`, null = skipped); pushes transitions. */
export function step (rule: AlarmRule, s: AlarmPhase, t: number, v: number | null, out: AlarmTransition[]): AlarmPhase {
  if (v === null) return s
  switch (s.type) {
    case 'idle':
      if (!rule.breach(v)) return s
      return openIfHeld(rule, t, v, t, out)
    case 'pending': {
      if (!rule.breach(v)) return IDLE
      const peak = rule.worse(s.peak, v)
      if (t - s.since < rule.minDurationUs) return peak === s.peak ? s : { type: 'pending', since: s.since, peak }
      return openIfHeld(rule, s.since, peak, t, out)
    }
    case 'active': {
      const peak = rule.worse(s.peak, v)
      if (!rule.cleared(v)) return peak === s.peak ? s : { ...s, peak }
      out.push({ type: 'clear', startedUs: s.since, endedUs: t, peak: s.peak })
      return IDLE
    }
  }
}

function openIfHeld (rule: AlarmRule, since: number, peak: number, t: number, out: AlarmTransition[]): AlarmPhase {
  if (t - since < rule.minDurationUs) return { type: 'pending', since, peak }
  out.push({ type: 'open', startedUs: since, atUs: t, peak })
  return { type: 'active', since, peak, alarmId: null }
}

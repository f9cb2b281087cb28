/**
 * Evaluates the alarm rules on committed readings, per machine in reading-time order, from the
 * database: what is evaluated is exactly what is stored, whatever the deliveries and batches were.
 *
 *   onCommitted(batch) ─▶ #dirty[machine] = { maxUs, lastCommitAt }        (ingest thread, O(rows))
 *   every interval_ms, per dirty machine, one transaction:
 *     BEGIN · advisory lock (machine) · SELECT alarm_state · SELECT readings after the oldest `through`,
 *     up to the bound, LIMIT chunk · step() each rule · INSERT/UPDATE alarms · UPSERT alarm_state · COMMIT
 *   after COMMIT only: opened/cleared frames to the live feed
 *
 * Invariant: episodes and the `through` they were derived up to commit together, so a crash at any
 * point repeats an uncommitted pass from the same state (never doubles it), and each reading after
 * `through` is seen by exactly one committed pass. UNIQUE (machine_id, rule, started_at) backs that up.
 *
 * Bound: batches commit concurrently (ingest.max_in_flight), so a machine's earlier readings may
 * commit just after later ones. A pass therefore reads only up to (newest committed reading of the
 * machine − late_margin_ms), and up to the newest reading once no batch of that machine committed
 * for late_margin_ms. A reading committed with a time at or before `through` (later than the margin)
 * is not evaluated (see README, "Alarms").
 * Readings at one instant are never split between passes.
 */
import type pg from 'pg'
import type { Logger } from 'pino'
import { Counter, Histogram, type Registry } from 'prom-client'
import type { ParsedBatch } from '../contracts.js'
import { ALARM_COLUMNS, alarmFrame, type AlarmRow } from './alarm-row.js'
import { compileRule, IDLE, step, type AlarmPhase, type AlarmRule, type AlarmRuleConfig, type AlarmTransition } from './rules.js'

export interface EvaluatorOptions {
  readonly rules: readonly AlarmRuleConfig[]
  readonly intervalMs: number
  readonly lateMarginMs: number
  /** Readings read per machine per transaction. */
  readonly chunk: number
  /** Called after COMMIT with a live-feed frame (never throws into the evaluator). */
  readonly push: (machineId: string, frame: string) => void
  /**
   * Ingest is behind (a backlog waits in the stream): passes are put off while this holds, for at most
   * deferMs since the last pass (or the start), so a catch-up drain is not slowed; nothing is skipped (the passes read
   * the committed readings later). Absent or deferMs 0: never put off.
   */
  readonly behind?: () => boolean
  readonly deferMs?: number
  readonly log: Logger
  /** Where cnc_alarm_* metrics go (absent: not registered). */
  readonly registry?: Registry
}

function createAlarmMetrics (registry: Registry | undefined) {
  const registers = registry === undefined ? [] : [registry]
  return {
    readings: new Counter({ name: 'cnc_alarm_readings_evaluated_total', help: 'Readings read by the alarm evaluator (each once per machine, for all its rules)', registers }),
    episodes: new Counter({ name: 'cnc_alarm_episodes_total', help: 'Alarm episodes opened and cleared', labelNames: ['event'] as const, registers }),
    failures: new Counter({ name: 'cnc_alarm_evaluation_failures_total', help: 'Alarm evaluation transactions that failed (retried at the next interval)', registers }),
    deferred: new Counter({ name: 'cnc_alarm_passes_deferred_total', help: 'Evaluation passes put off while ingest worked through a backlog (alarms.backlog_defer_ms)', registers }),
    seconds: new Histogram({ name: 'cnc_alarm_evaluation_seconds', help: 'Time of one alarm evaluation transaction (one machine, up to one chunk of readings)', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers }),
  }
}

/** maxUs: newest reading committed; doneUs: readings up to this were evaluated (bounded passes). */
interface Dirty { maxUs: number, lastCommitAt: number, doneUs: number }
interface StateRow { rule: string, through: string, phase: string, since: string | null, peak: number | null, alarm_id: string | null }

const US = (col: string): string => `(extract(epoch FROM ${col}) * 1000000)::int8::text`
/** µs since the epoch (an int8 expression) → timestamptz; TS(n): of parameter $n. */
const AT = (col: string): string => `('epoch'::timestamptz + ${col} * interval '1 microsecond')`
const TS = (n: number): string => AT(`$${n}::int8`)
/** The rules' states of one machine, as parallel arrays (one row per rule). */
interface StateColumns {
  readonly rule: string[]
  readonly through: number[]
  readonly phase: string[]
  readonly since: Array<number | null>
  readonly peak: Array<number | null>
  readonly alarmId: Array<string | null>
}
const SAVE_STATES = `INSERT INTO alarm_state (machine_id, rule, through, phase, since, peak, alarm_id)
  SELECT $1, u.rule, ${AT('u.through')}, u.phase, ${AT('u.since')}, u.peak, u.alarm_id
    FROM unnest($2::text[], $3::int8[], $4::text[], $5::int8[], $6::float8[], $7::int8[]) AS u(rule, through, phase, since, peak, alarm_id)
  ON CONFLICT (machine_id, rule) DO UPDATE SET through = EXCLUDED.through, phase = EXCLUDED.phase, since = EXCLUDED.since, peak = EXCLUDED.peak, alarm_id = EXCLUDED.alarm_id`
const DISCOVER = `WITH RECURSIVE m AS (
  (SELECT machine_id FROM sensor_data ORDER BY machine_id LIMIT 1)
  UNION ALL
  SELECT (SELECT s.machine_id FROM sensor_data s WHERE s.machine_id > m.machine_id ORDER BY s.machine_id LIMIT 1) FROM m WHERE m.machine_id IS NOT NULL
) SELECT machine_id FROM m WHERE machine_id IS NOT NULL`

export class AlarmEvaluator {
  readonly #pool: pg.Pool
  readonly #opts: EvaluatorOptions
  readonly #rules: readonly AlarmRule[]
  readonly #dirty = new Map<string, Dirty>()
  readonly #select: string
  /** Every reading of a machine at one instant (a chunk never splits an instant). */
  readonly #instant: string
  readonly #metrics: ReturnType<typeof createAlarmMetrics>
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #closed = false
  #discovered = false
  /** When the last pass started (at first: when the evaluator was made). */
  #lastPassAt = Date.now()

  constructor (pool: pg.Pool, opts: EvaluatorOptions) {
    this.#pool = pool
    this.#opts = opts
    this.#rules = opts.rules.map(compileRule)
    this.#metrics = createAlarmMetrics(opts.registry)
    const fields = [...new Set(this.#rules.map((r) => r.field))]
    this.#select = `SELECT ${US('time')} AS us, ${fields.join(', ')} FROM sensor_data
      WHERE machine_id = $1 AND ($2::int8 IS NULL OR time > ${TS(2)}) AND ($3::int8 IS NULL OR time <= ${TS(3)}) ORDER BY time LIMIT $4`
    this.#instant = `SELECT ${US('time')} AS us, ${fields.join(', ')} FROM sensor_data WHERE machine_id = $1 AND time = ${TS(2)}`
  }

  get enabled (): boolean { return this.#rules.length > 0 }

  /** Pipeline.onCommitted: remembers which machines have new readings (no I/O, never throws). */
  readonly committed = (p: ParsedBatch): void => {
    if (!this.enabled) return
    const now = Date.now()
    const maxMs = new Float64Array(p.machines.length).fill(-Infinity)
    for (let r = 0; r < p.rowMachine.length; r++) {
      const m = p.rowMachine[r] as number
      const t = p.rowTimeMs[r] as number
      if (t > (maxMs[m] as number)) maxMs[m] = t
    }
    for (let m = 0; m < p.machines.length; m++) {
      if (maxMs[m] === -Infinity) continue
      const id = p.machines[m] as string
      const d = this.#dirty.get(id)
      const us = (maxMs[m] as number) * 1000
      if (d === undefined) this.#dirty.set(id, { maxUs: us, lastCommitAt: now, doneUs: -Infinity })
      else { d.lastCommitAt = now; if (us > d.maxUs) d.maxUs = us }
    }
  }

  /** Starts the passes; the first marks every machine with readings (committed before a restart). */
  async start (): Promise<void> {
    if (this.enabled) this.#schedule()
  }

  /**
   * Best effort: a loose index scan costs one probe per machine (and chunk, on TimescaleDB); should it
   * exceed the statement timeout, the machines with saved state are taken instead, and any other
   * machine's unevaluated readings wait for its next committed batch.
   */
  async #discover (): Promise<void> {
    let rows: Array<{ machine_id: string }>
    try {
      rows = (await this.#pool.query<{ machine_id: string }>(DISCOVER)).rows
    } catch (err) {
      this.#opts.log.warn({ err }, 'listing machines with readings failed; evaluating machines with saved alarm state, the others at their next batch')
      rows = (await this.#pool.query<{ machine_id: string }>('SELECT DISTINCT machine_id FROM alarm_state')).rows
    }
    const now = Date.now()
    for (const r of rows) if (!this.#dirty.has(r.machine_id)) this.#dirty.set(r.machine_id, { maxUs: -Infinity, lastCommitAt: now, doneUs: -Infinity })
    this.#discovered = true
  }

  #schedule (): void {
    if (this.#closed) return
    this.#timer = setTimeout(() => {
      this.#running = this.runOnce().catch((err: unknown) => this.#opts.log.warn({ err }, 'alarm evaluation failed; retrying next interval'))
        .finally(() => { this.#running = undefined; this.#schedule() })
    }, this.#opts.intervalMs)
  }

  /** Stops the timer and waits for a pass under way (its transaction commits or rolls back whole). */
  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    await this.#running
  }

  /** One pass over the dirty machines (public for tests), unless put off while ingest is behind. */
  async runOnce (): Promise<void> {
    const deferMs = this.#opts.deferMs ?? 0
    if (deferMs > 0 && this.#opts.behind?.() === true && Date.now() - this.#lastPassAt < deferMs) {
      this.#metrics.deferred.inc()
      return
    }
    this.#lastPassAt = Date.now()
    if (!this.#discovered) await this.#discover()
    for (const [id, d] of [...this.#dirty]) {
      if (this.#closed) return
      const seenAt = d.lastCommitAt
      const idle = Date.now() - seenAt >= this.#opts.lateMarginMs
      const bound = idle ? null : Math.floor(d.maxUs) - this.#opts.lateMarginMs * 1000
      // Nothing new below the bound since the last bounded pass: no transaction.
      if (bound !== null && bound <= d.doneUs) continue
      for (;;) {
        const more = await this.#evaluate(id, bound)
        if (!more || this.#closed) break
      }
      if (bound !== null) d.doneUs = bound
      if (idle && this.#dirty.get(id)?.lastCommitAt === seenAt) this.#dirty.delete(id)
    }
  }

  /** One transaction for one machine; true when the chunk was full (more to read). */
  async #evaluate (machineId: string, boundUs: number | null): Promise<boolean> {
    const rules = this.#rules.filter((r) => r.appliesTo(machineId))
    if (rules.length === 0) return false
    const frames: Array<['opened' | 'cleared', AlarmRow]> = []
    const started = performance.now()
    const client = await this.#pool.connect()
    let broken: Error | undefined
    try {
      await client.query('BEGIN')
      await client.query("SELECT pg_advisory_xact_lock(hashtext('cnc-monitor:alarms'), hashtext($1))", [machineId])
      const saved = new Map((await client.query<StateRow>(
        `SELECT rule, ${US('through')} AS through, phase, ${US('since')} AS since, peak, alarm_id::text AS alarm_id FROM alarm_state WHERE machine_id = $1`,
        [machineId])).rows.map((s) => [s.rule, s]))
      const throughs = rules.map((r) => { const s = saved.get(r.name); return s === undefined ? -Infinity : Number(s.through) })
      const from = Math.min(...throughs)
      if (boundUs !== null && from >= boundUs) { await client.query('COMMIT'); return false }
      const chunk = this.#opts.chunk
      let rows = (await client.query<Record<string, string | number | null>>(this.#select,
        [machineId, from === -Infinity ? null : from, boundUs, chunk])).rows
      const full = rows.length === chunk
      if (full) rows = await this.#wholeInstants(client, machineId, rows)
      if (rows.length === 0) { await client.query('COMMIT'); return false }
      const last = Number(rows[rows.length - 1]?.us)
      const states: StateColumns = { rule: [], through: [], phase: [], since: [], peak: [], alarmId: [] }
      for (let k = 0; k < rules.length; k++) {
        const rule = rules[k] as AlarmRule
        const through = throughs[k] as number
        let phase = toPhase(saved.get(rule.name))
        const startPeak = phase.type === 'active' ? phase.peak : null
        const out: AlarmTransition[] = []
        for (const row of rows) {
          const t = Number(row.us)
          if (t <= through) continue
          const v = row[rule.field]
          const prev = phase
          phase = step(rule, phase, t, v === null || v === undefined ? null : Number(v), out)
          const tr = out.pop()
          if (tr !== undefined) phase = await this.#store(client, machineId, rule, prev, phase, tr, frames)
        }
        if (phase.type === 'active' && phase.alarmId !== null && phase.peak !== startPeak) {
          await client.query('UPDATE alarms SET peak_value = $2 WHERE id = $1', [phase.alarmId, phase.peak])
        }
        states.rule.push(rule.name)
        states.through.push(Math.max(last, through))
        states.phase.push(phase.type)
        states.since.push(phase.type === 'idle' ? null : phase.since)
        states.peak.push(phase.type === 'idle' ? null : phase.peak)
        states.alarmId.push(phase.type === 'active' ? phase.alarmId : null)
      }
      // Every rule's state in one statement (one round trip, not one per rule).
      await client.query(SAVE_STATES, [machineId, states.rule, states.through, states.phase, states.since, states.peak, states.alarmId])
      await client.query('COMMIT')
      this.#metrics.readings.inc(rows.length)
      this.#metrics.seconds.observe((performance.now() - started) / 1000)
      for (const [event, row] of frames) {
        this.#metrics.episodes.inc({ event })
        try { this.#opts.push(machineId, alarmFrame(event, row)) } catch (err) { this.#opts.log.warn({ err }, 'alarm push failed') }
      }
      if (frames.length > 0) this.#opts.log.info({ machine: machineId, opened: frames.filter((f) => f[0] === 'opened').length, cleared: frames.filter((f) => f[0] === 'cleared').length }, 'alarm episodes')
      return full
    } catch (err) {
      broken = err as Error
      this.#metrics.failures.inc()
      await client.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      client.release(broken)
    }
  }

  /** A full chunk minus its last instant (read whole next time); all of one instant if that is all there is. */
  async #wholeInstants (client: pg.PoolClient, machineId: string, rows: Array<Record<string, string | number | null>>): Promise<Array<Record<string, string | number | null>>> {
    const lastUs = rows[rows.length - 1]?.us
    const cut = rows.findIndex((r) => r.us === lastUs)
    if (cut > 0) return rows.slice(0, cut)
    return (await client.query<Record<string, string | number | null>>(this.#instant, [machineId, Number(lastUs)])).rows
  }

  /** Stores one transition; `prev` is the phase before the reading, `next` after it. Returns `next` with the episode id. */
  async #store (client: pg.PoolClient, machineId: string, rule: AlarmRule, prev: AlarmPhase, next: AlarmPhase, tr: AlarmTransition, frames: Array<['opened' | 'cleared', AlarmRow]>): Promise<AlarmPhase> {
    if (tr.type === 'open') {
      const { rows } = await client.query<AlarmRow>(
        `INSERT INTO alarms (machine_id, rule, severity, field, comparison, threshold, started_at, peak_value)
         VALUES ($1, $2, $3, $4, $5, $6, ${TS(7)}, $8) RETURNING ${ALARM_COLUMNS}`,
        [machineId, rule.name, rule.severity, rule.field, rule.comparison, rule.threshold, tr.startedUs, tr.peak])
      const row = rows[0] as AlarmRow
      frames.push(['opened', row])
      return next.type === 'active' ? { ...next, alarmId: row.id } : next
    }
    const id = prev.type === 'active' ? prev.alarmId : null
    const { rows } = await client.query<AlarmRow>(id !== null
      ? `UPDATE alarms SET ended_at = ${TS(2)}, peak_value = $3 WHERE id = $1::int8 RETURNING ${ALARM_COLUMNS}`
      : `UPDATE alarms SET ended_at = ${TS(2)}, peak_value = $3 WHERE machine_id = $4 AND rule = $5 AND started_at = ${TS(1)} RETURNING ${ALARM_COLUMNS}`,
    id !== null ? [id, tr.endedUs, tr.peak] : [tr.startedUs, tr.endedUs, tr.peak, machineId, rule.name])
    if (rows[0] !== undefined) frames.push(['cleared', rows[0]])
    return next
  }
}

function toPhase (s: StateRow | undefined): AlarmPhase {
  if (s === undefined || s.phase === 'idle' || s.since === null || s.peak === null) return IDLE
  if (s.phase === 'pending') return { type: 'pending', since: Number(s.since), peak: s.peak }
  return { type: 'active', since: Number(s.since), peak: s.peak, alarmId: s.alarm_id }
}

/** The one results table: a row per measured figure, each labelled with the kind of figure it is. */
export interface Row {
  readonly phase: string
  readonly case: string
  /** What the value is, e.g. `publish-only msg/s` or `end-to-end msg/s (committed + acked)`. */
  readonly figure: string
  readonly value: string
  /** Integrity check or context. */
  readonly check: string
}

export function fmtRate (perSecond: number): string {
  return Number.isFinite(perSecond) ? Math.round(perSecond).toLocaleString('en-US') : '—'
}

export function fmtMs (ms: number): string {
  if (!Number.isFinite(ms)) return '—'
  return ms >= 100 ? `${Math.round(ms)} ms` : `${ms.toFixed(ms >= 10 ? 1 : 2)} ms`
}

/** CPU µs per message (or reading), one decimal. */
export function fmtMicros (us: number): string {
  return Number.isFinite(us) ? us.toFixed(1) : '—'
}

/** `met` or `MISSED by N%` against a target, higher or lower being better. */
export function targetCheck (value: number, target: number, higherIsBetter: boolean): string {
  if (!Number.isFinite(value)) return 'not available'
  const met = higherIsBetter ? value >= target : value <= target
  const by = higherIsBetter ? (1 - value / target) * 100 : (value / target - 1) * 100
  return met ? 'met' : `MISSED by ${Math.max(1, Math.round(by))}%`
}

export function median (xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2
}

/** Nearest-rank percentile of an ascending-sorted array. */
export function percentile (sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i] as number
}

export function renderTable (rows: readonly Row[]): string {
  const head = ['phase', 'case', 'figure', 'value', 'check']
  const cells = rows.map((r) => [r.phase, r.case, r.figure, r.value, r.check])
  const width = head.map((h, c) => Math.max(h.length, ...cells.map((row) => (row[c] as string).length)))
  const line = (row: readonly string[]): string => '| ' + row.map((v, c) => v.padEnd(width[c] as number)).join(' | ') + ' |'
  return [line(head), '|' + width.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...cells.map(line)].join('\n')
}

export function progress (message: string): void {
  process.stdout.write(`[perf ${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

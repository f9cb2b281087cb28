/**
 * One series of one machine over the last `spanMs`, drawn by uPlot with a time axis in local time
 * (HH:MM, or HH:MM:SS when ticks are under a minute apart). Points (history buckets and live
 * readings) may arrive out of order; they are inserted in place and those older than the window
 * are dropped, so a chart holds at most span × live rate points (10 min at 10 Hz: 6,000).
 * Redrawn at most once per animation frame, and once a second so the axis scrolls with the clock.
 *
 * The caption shows the newest value, or the value under the cursor (the three charts of a machine
 * share one cursor). The figure carries what it shows for tests and screen readers: data-x-ticks
 * (the tick labels last drawn), data-points, and an aria-label with the time range.
 */
import UPlot from 'uplot'

export interface ChartSpec {
  readonly label: string
  readonly unit: string
  readonly color: string
  readonly digits: number
}

const MUTED = '#57606a'
const GRID = 'rgba(140, 149, 159, 0.25)'
const FONT = '11px system-ui, sans-serif'
const HEIGHT = 120
/** Tick steps of the time axis in seconds: uPlot's defaults jump from 1 to 5 min, too coarse for 10 min in 400 px. */
const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
const pad2 = (n: number): string => String(n).padStart(2, '0')

export function clock (secs: number, withSeconds: boolean): string {
  const d = new Date(secs * 1000)
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`
  return withSeconds ? `${hm}:${pad2(d.getSeconds())}` : hm
}

export class TimeChart {
  readonly #figure: HTMLElement
  readonly #spanMs: number
  readonly #spec: ChartSpec
  readonly #plot: UPlot
  /** Seconds since the epoch (uPlot's time unit), ascending; #v[i] belongs to #t[i]. */
  #t: number[] = []
  #v: Array<number | null> = []
  #queued = false
  readonly #value: HTMLElement
  readonly #at: HTMLElement
  readonly #fmt: (v: number | null | undefined) => string

  constructor (figure: HTMLElement, spanMs: number, spec: ChartSpec, syncKey: string) {
    this.#figure = figure
    this.#spanMs = spanMs
    this.#spec = spec
    const fmt = (v: number | null | undefined): string => v === null || v === undefined ? '–' : v.toFixed(spec.digits)
    this.#fmt = fmt
    const caption = document.createElement('figcaption')
    const name = document.createElement('span')
    name.textContent = `${spec.label} ${spec.unit}`
    this.#value = document.createElement('b')
    this.#value.style.color = spec.color
    this.#at = document.createElement('small')
    caption.append(name, ' ', this.#value, ' ', this.#at)
    figure.append(caption)
    const opts: UPlot.Options = {
      width: Math.max(200, figure.clientWidth),
      height: HEIGHT,
      padding: [8, 8, 0, 0],
      cursor: { sync: { key: syncKey }, drag: { x: false, y: false } },
      legend: { show: false },
      hooks: { setCursor: [(u) => this.#caption(u.cursor.idx ?? null)] },
      scales: { x: { time: true, auto: false, range: (_u, min, max) => [min, max] } },
      series: [
        {},
        { label: `${spec.label} ${spec.unit}`, stroke: spec.color, width: 1.5, fill: spec.color + '18', points: { show: false } },
      ],
      axes: [
        {
          stroke: MUTED,
          font: FONT,
          space: 56,
          size: 24,
          incrs: TIME_INCRS,
          grid: { stroke: GRID, width: 1 },
          ticks: { stroke: GRID, width: 1, size: 4 },
          values: (_u, splits) => this.#timeLabels(splits),
        },
        {
          stroke: MUTED,
          font: FONT,
          size: 50,
          space: 22,
          grid: { stroke: GRID, width: 1 },
          ticks: { stroke: GRID, width: 1, size: 4 },
          values: (_u, splits) => splits.map((v) => fmtAxis(v)),
        },
      ],
    }
    this.#plot = new UPlot(opts, [[], []], figure)
    new ResizeObserver(() => {
      const width = Math.max(200, this.#figure.clientWidth)
      if (width !== this.#plot.width) this.#plot.setSize({ width, height: HEIGHT })
    }).observe(figure)
    this.#schedule()
  }

  reset (): void {
    this.#t = []
    this.#v = []
    this.#schedule()
  }

  add (ms: number, value: number | null): void {
    if (value === null || !Number.isFinite(ms) || !Number.isFinite(value)) return
    const t = ms / 1000
    let i = this.#t.length
    while (i > 0 && (this.#t[i - 1] as number) > t) i--
    this.#t.splice(i, 0, t)
    this.#v.splice(i, 0, value)
    this.#schedule()
  }

  /** Scrolls the time axis to now (call once a second). */
  tick (): void { this.#schedule() }

  #schedule (): void {
    if (this.#queued) return
    this.#queued = true
    requestAnimationFrame(() => { this.#queued = false; this.#draw() })
  }

  #draw (): void {
    const max = Date.now() / 1000
    const min = max - this.#spanMs / 1000
    let cut = 0
    while (cut < this.#t.length && (this.#t[cut] as number) < min) cut++
    if (cut > 0) { this.#t.splice(0, cut); this.#v.splice(0, cut) }
    this.#plot.batch(() => {
      this.#plot.setData([this.#t, this.#v], false)
      // Setting x re-ranges the auto y scale over the points in view.
      this.#plot.setScale('x', { min, max })
    })
    this.#caption(this.#plot.cursor.idx ?? null)
    this.#figure.dataset.points = String(this.#t.length)
    this.#figure.classList.toggle('empty', this.#t.length === 0)
    this.#figure.setAttribute('aria-label', `${this.#spec.label} ${this.#spec.unit}, ${clock(min, false)} to ${clock(max, false)}`)
  }

  /** The value at data index `idx` (under the cursor), or the newest one. */
  #caption (idx: number | null): void {
    const i = idx ?? this.#t.length - 1
    const t = this.#t[i]
    this.#value.textContent = this.#fmt(this.#v[i])
    this.#at.textContent = t === undefined ? '' : `at ${clock(t, true)}`
  }

  #timeLabels (splits: number[]): string[] {
    const step = splits.length > 1 ? (splits[1] as number) - (splits[0] as number) : 60
    const labels = splits.map((s) => clock(s, step < 60))
    this.#figure.dataset.xTicks = labels.join(' ')
    return labels
  }
}

/** Axis values: no trailing zeros, thousands as "k" once they no longer fit (spindle rpm). */
function fmtAxis (v: number): string {
  if (Math.abs(v) >= 10_000) return `${(v / 1000).toFixed(0)}k`
  return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(2)))
}

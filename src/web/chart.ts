/**
 * A minimal time-series line chart on a canvas: points (ms, value) kept for `spanMs`, redrawn at
 * most once per animation frame. Enough for "the last minutes of one machine"; no library.
 */
export class LineChart {
  readonly #canvas: HTMLCanvasElement
  readonly #spanMs: number
  readonly #color: string
  #t: number[] = []
  #v: number[] = []
  #queued = false

  constructor (canvas: HTMLCanvasElement, spanMs: number, color: string) {
    this.#canvas = canvas
    this.#spanMs = spanMs
    this.#color = color
  }

  reset (): void {
    this.#t = []
    this.#v = []
    this.#schedule()
  }

  /** Adds a point; out-of-order points are inserted in place (history and live may interleave). */
  add (ms: number, value: number | null): void {
    if (value === null || !Number.isFinite(ms)) return
    let i = this.#t.length
    while (i > 0 && (this.#t[i - 1] as number) > ms) i--
    this.#t.splice(i, 0, ms)
    this.#v.splice(i, 0, value)
    this.#schedule()
  }

  #schedule (): void {
    if (this.#queued) return
    this.#queued = true
    requestAnimationFrame(() => { this.#queued = false; this.#draw() })
  }

  #draw (): void {
    const now = Date.now()
    const from = now - this.#spanMs
    let cut = 0
    while (cut < this.#t.length && (this.#t[cut] as number) < from) cut++
    if (cut > 0) { this.#t.splice(0, cut); this.#v.splice(0, cut) }
    const ctx = this.#canvas.getContext('2d')
    if (ctx === null) return
    const { width: w, height: h } = this.#canvas
    ctx.clearRect(0, 0, w, h)
    ctx.font = '11px system-ui, sans-serif'
    ctx.fillStyle = '#6e7781'
    if (this.#v.length === 0) { ctx.fillText('no data in the last minutes', 8, h / 2); return }
    let lo = Math.min(...this.#v)
    let hi = Math.max(...this.#v)
    if (hi - lo < 1e-9) { lo -= 1; hi += 1 }
    const pad = 18
    const x = (t: number): number => pad + ((t - from) / this.#spanMs) * (w - 2 * pad)
    const y = (v: number): number => h - pad - ((v - lo) / (hi - lo)) * (h - 2 * pad)
    ctx.fillText(hi.toFixed(1), 2, pad - 4)
    ctx.fillText(lo.toFixed(1), 2, h - 4)
    ctx.strokeStyle = this.#color
    ctx.lineWidth = 1.5
    ctx.beginPath()
    for (let i = 0; i < this.#t.length; i++) {
      const px = x(this.#t[i] as number)
      const py = y(this.#v[i] as number)
      if (i === 0) ctx.moveTo(px, py)
      else ctx.lineTo(px, py)
    }
    ctx.stroke()
  }
}

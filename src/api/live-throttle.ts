/**
 * Committed rows → the data API's Reading JSON, grouped by machine, with the optional per-machine
 * rate limit of live.max_per_machine_per_second (latest reading time wins).
 *
 * Unthrottled, every row of a watched machine is serialized. Throttled, a batch costs one parse
 * per watched machine at most: the newest row is sent at once when the machine's interval has
 * passed, else it waits as the machine's pending payload (a string copy, replaced by any newer
 * row) until a timer sends it. Rows replaced or skipped are counted as coalesced. The table of
 * machines is bounded (MAX_SLOTS, MAX_PENDING_CHARS below).
 */
import type { ParsedBatch } from '../contracts.js'
import { payloadJson } from './reading-json.js'
import { asBuffer } from '../bytes.js'

/** machine id → reading JSON strings, in commit order. */
export type MachineRows = Map<string, string[]>

export function readingFrame (list: readonly string[]): string {
  return '{"type":"readings","data":[' + list.join(',') + ']}'
}

/**
 * pending: the machine's newest unsent row, as its raw payload text or, when that is longer than
 * MAX_PENDING_CHARS (a publisher's extra fields), already as Reading JSON (json = true), which the
 * message contract bounds (id ≤ 128, state ≤ 64 characters, numbers): a slot holds ≤ ~2 KB.
 * sentTime: the reading time of the row last sent; an older row committed later (batches commit
 * concurrently) is skipped, so a throttled client never steps back in time while the slot lives.
 */
interface Slot { last: number, pending: string | null, json: boolean, pendingTime: number, sentTime: number }

/**
 * Bounds of the per-machine table. A slot matters only while its machine has a pending row or was
 * sent less than one interval ago; any other slot behaves exactly like no slot and is swept (at
 * most once per SWEEP_EVERY_MS, or when the table doubled since the last sweep). Past MAX_SLOTS
 * machines inside one interval, a machine without a slot is sent unthrottled rather than tracked:
 * memory stays ≤ MAX_SLOTS × ~2 KB (≈ 20 MB) whatever ids publishers invent.
 */
export const MAX_SLOTS = 10_000
export const MAX_PENDING_CHARS = 2_048
const SWEEP_EVERY_MS = 1_000

export class LiveThrottle {
  readonly #intervalMs: number
  readonly #emit: (rows: MachineRows) => void
  readonly #coalesced: (n: number) => void
  readonly #slots = new Map<string, Slot>()
  readonly #pending = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  #sweptAt = 0
  #sizeAtSweep = 0

  /** Machines tracked now (bounded by MAX_SLOTS). */
  get slots (): number { return this.#slots.size }

  constructor (perSecond: number, emit: (rows: MachineRows) => void, coalesced: (n: number) => void) {
    this.#intervalMs = perSecond > 0 ? 1000 / perSecond : 0
    this.#emit = emit
    this.#coalesced = coalesced
  }

  /** Rows of `p` whose machine index m has wanted[m] = 1 are sent now or later. */
  offer (p: ParsedBatch, wanted: Uint8Array): void {
    const buf = asBuffer(p.bytes)
    const text = (r: number): string => buf.toString('utf8', p.rowSpan[2 * r], p.rowSpan[2 * r + 1])
    const rows = p.rowMachine.length
    const out: MachineRows = new Map()
    if (this.#intervalMs === 0) {
      for (let r = 0; r < rows; r++) {
        const m = p.rowMachine[r] as number
        if (wanted[m] !== 1) continue
        const json = payloadJson(text(r))
        if (json === null) continue
        const id = p.machines[m] as string
        const list = out.get(id)
        if (list === undefined) out.set(id, [json])
        else list.push(json)
      }
      if (out.size > 0) this.#emit(out)
      return
    }
    const best = new Int32Array(p.machines.length).fill(-1)
    let skipped = 0
    for (let r = 0; r < rows; r++) {
      const m = p.rowMachine[r] as number
      if (wanted[m] !== 1) continue
      const b = best[m] as number
      if (b >= 0) skipped++
      if (b < 0 || (p.rowTimeMs[r] as number) >= (p.rowTimeMs[b] as number)) best[m] = r
    }
    const now = performance.now()
    this.#maybeSweep(now)
    for (let m = 0; m < best.length; m++) {
      const r = best[m] as number
      if (r < 0) continue
      const id = p.machines[m] as string
      const t = p.rowTimeMs[r] as number
      let slot = this.#slots.get(id)
      if (slot === undefined) {
        // At most one sweep per batch (now is the batch's): a full table costs O(MAX_SLOTS) once.
        if (this.#slots.size >= MAX_SLOTS && this.#sweptAt !== now) this.#sweep(now)
        if (this.#slots.size >= MAX_SLOTS) {
          // Table full of machines active within one interval: send, do not track.
          const json = payloadJson(text(r))
          if (json !== null) out.set(id, [json])
          continue
        }
        this.#slots.set(id, slot = { last: -Infinity, pending: null, json: false, pendingTime: -Infinity, sentTime: -Infinity })
      }
      if (t < slot.sentTime) {
        skipped++
      } else if (slot.pending !== null) {
        skipped++
        if (t >= slot.pendingTime) this.#hold(slot, text(r), t)
      } else if (now - slot.last >= this.#intervalMs) {
        const json = payloadJson(text(r))
        slot.last = now
        slot.sentTime = t
        if (json !== null) out.set(id, [json])
      } else {
        this.#hold(slot, text(r), t)
        this.#pending.add(id)
      }
    }
    if (skipped > 0) this.#coalesced(skipped)
    if (out.size > 0) this.#emit(out)
    this.#arm()
  }

  /** Keeps a row as the slot's pending one, bounded (see Slot). */
  #hold (slot: Slot, raw: string, t: number): void {
    slot.pendingTime = t
    if (raw.length <= MAX_PENDING_CHARS) {
      slot.pending = raw
      slot.json = false
      return
    }
    const json = payloadJson(raw)
    if (json === null) return
    slot.pending = json
    slot.json = true
  }

  #maybeSweep (now: number): void {
    if (now - this.#sweptAt >= SWEEP_EVERY_MS || this.#slots.size > 2 * this.#sizeAtSweep + 64) this.#sweep(now)
  }

  /** Forgets slots that carry nothing: no pending row and last sent an interval ago or more. */
  #sweep (now: number): void {
    for (const [id, s] of this.#slots) if (s.pending === null && now - s.last >= this.#intervalMs) this.#slots.delete(id)
    this.#sweptAt = now
    this.#sizeAtSweep = this.#slots.size
  }

  #arm (): void {
    if (this.#timer !== undefined || this.#pending.size === 0) return
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#flush() }, Math.max(1, this.#intervalMs / 4))
    this.#timer.unref()
  }

  #flush (): void {
    const now = performance.now()
    const out: MachineRows = new Map()
    for (const id of this.#pending) {
      const slot = this.#slots.get(id)
      if (slot === undefined || slot.pending === null) { this.#pending.delete(id); continue }
      if (now - slot.last < this.#intervalMs) continue
      const json = slot.json ? slot.pending : payloadJson(slot.pending)
      slot.pending = null
      slot.last = now
      slot.sentTime = slot.pendingTime
      this.#pending.delete(id)
      if (json !== null) out.set(id, [json])
    }
    this.#maybeSweep(now)
    if (out.size > 0) this.#emit(out)
    this.#arm()
  }

  close (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#pending.clear()
    this.#slots.clear()
  }
}

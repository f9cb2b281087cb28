/**
 * Range acks for a consumer with ack policy `all`: one +ACK per advance of the commit floor instead
 * of one per message (nats-server's largest per-message cost in the drain).
 *
 *   floor F = the highest stream sequence such that every sequence in (ack floor, F] is in the
 *             ingest ledger (committed as a row, dead-lettered, or known absent from the stream)
 *
 * An ack-all of a message with sequence s settles every pending message with sequence ≤ s, held by
 * this instance or any other. So s ≤ F always: the floor is read from the ledger (under the writer's
 * lock, in the batch's own transaction; or by the periodic check here), never from what this
 * instance alone has seen, so a message another instance holds, one lost in transit on a reconnect,
 * or one nak'd for redelivery keeps the floor below it until it commits.
 *
 *   commit ─▶ committed(seqs, replies, F) ─▶ held until F covers them ─▶ +ACK on the highest held s ≤ F
 *   every CHECK_MS while something is held: read F again (another instance's commit may have closed
 *   the gap); stuck for GAP_AFTER_MS: sequences absent from the stream (deleted, limits) are recorded
 *   in the ledger as settled, so a hole no one can fill never stops acking.
 *
 * Never +TERM under ack-all: nats-server 2.9 treats a TERM as an ack of everything up to it. A dead
 * letter is settled by the range ack like a row (its sequence is in the ledger with the dead letter).
 * +NAK and +WPI stay per message. An ack nats-server ignores (its delivery sequence is below the
 * last one acked: a redelivery was acked first) leaves those messages pending; they come back after
 * ack_wait, the ledger finds them committed, and they are acked then: late, never lost or doubled.
 */
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'

const ACK = Uint8Array.of(0x2b, 0x41, 0x43, 0x4b) // +ACK
const CHECK_MS = 1_000
const GAP_AFTER_MS = 3_000
/** Absent sequences probed one by one per check at most (a larger hole is closed over several checks). */
const MAX_PROBES = 1_000

export interface FloorSource {
  /** Highest F such that every sequence in (after, F] is in the ledger of `key`. */
  readonly settledThrough: (key: string, after: number) => Promise<number>
  /**
   * The consumer's ack floor (stream sequence) as nats-server reports it: other instances' range acks
   * move it, and ledger ranges below it are pruned, so the walk must start from there at least.
   */
  readonly consumerAckFloor: () => Promise<number>
  /** The stream's first sequence and whether message `seq` exists (absent: deleted or never stored). */
  readonly streamFirstSeq: () => Promise<number>
  readonly messageExists: (seq: number) => Promise<boolean>
  /** Records [lo, hi] as settled in the ledger of `key` (sequences the stream no longer holds). */
  readonly recordAbsent: (key: string, lo: number, hi: number) => Promise<void>
}

interface Waiting {
  /** Sorted ascending. */
  readonly seqs: Float64Array
  readonly replies: string[]
}

export class AckFloor {
  readonly #nc: NatsConnection
  readonly #src: FloorSource
  readonly #log: Logger
  readonly #onAck: (messages: number) => void
  readonly #keyOf: () => string
  #key: string
  #floor: number
  #waiting: Waiting[] = []
  #held = 0
  #stuckSince = 0
  #timer: NodeJS.Timeout | undefined
  #checking = false

  /**
   * `key`: the stream's ledger identity, read per call (a recreated stream starts again from 0).
   * `floor`: the consumer's ack floor (stream sequence) when ingest starts.
   */
  constructor (nc: NatsConnection, src: FloorSource, key: () => string, floor: number, log: Logger, onAck: (messages: number) => void = () => {}) {
    this.#nc = nc
    this.#src = src
    this.#keyOf = key
    this.#key = key()
    this.#floor = floor
    this.#log = log
    this.#onAck = onAck
  }

  get floor (): number {
    this.#follow()
    return this.#floor
  }

  /** Committed messages waiting for the floor to reach them. */
  get held (): number { return this.#held }

  start (): void {
    this.#timer = setInterval(() => { this.#check().catch((err: unknown) => this.#log.warn({ err }, 'ack floor check failed; retried')) }, CHECK_MS)
    this.#timer.unref()
  }

  /**
   * Shutdown: stops checking, and acks what the ledger covers now. What stays held (a hole below it,
   * another instance's messages) comes back after ack_wait and is acked then by whoever gets it.
   */
  async close (): Promise<void> {
    clearInterval(this.#timer)
    if (this.#held === 0) return
    try {
      this.advance(await this.#src.settledThrough(this.#key, this.#floor))
    } catch (err) {
      this.#log.warn({ err, held: this.#held }, 'last ack floor read failed; held messages come back after ack_wait (already committed: acked then)')
    }
  }

  /**
   * The stream was recreated (new ledger key): its sequences start again at 1. The identity gate
   * switches the key only when no batch of the old stream is in the pipeline, so nothing held is lost.
   */
  #follow (): void {
    const key = this.#keyOf()
    if (key === this.#key) return
    this.#key = key
    this.#floor = 0
    this.#waiting = []
    this.#held = 0
    this.#stuckSince = 0
  }

  /**
   * Messages of one batch settled in the ledger (rows, dead letters or found committed before), and
   * the floor as the committing transaction saw it. `only`: just those marked 1.
   */
  committed (seqs: ArrayLike<number>, replies: readonly string[], through: number, only?: Uint8Array): void {
    this.#follow()
    const order: number[] = []
    for (let i = 0; i < replies.length; i++) if (only === undefined || only[i] === 1) order.push(i)
    order.sort((a, b) => (seqs[a] as number) - (seqs[b] as number))
    const w: Waiting = { seqs: new Float64Array(order.length), replies: new Array<string>(order.length) }
    order.forEach((i, k) => { w.seqs[k] = seqs[i] as number; w.replies[k] = replies[i] as string })
    if (w.seqs.length > 0) {
      this.#waiting.push(w)
      this.#held += w.seqs.length
    }
    this.advance(through)
  }

  /** Acks the highest held message at or below `through` and forgets every held one it covers. */
  advance (through: number): void {
    if (through > this.#floor) {
      this.#floor = through
      this.#stuckSince = 0
    }
    const f = this.#floor
    let best = -1
    let bestReply = ''
    let covered = 0
    const keep: Waiting[] = []
    for (const w of this.#waiting) {
      // Highest index with seqs[k] <= f (sorted).
      let lo = 0
      let hi = w.seqs.length
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if ((w.seqs[mid] as number) <= f) lo = mid + 1
        else hi = mid
      }
      if (lo > 0) {
        const s = w.seqs[lo - 1] as number
        if (s > best) { best = s; bestReply = w.replies[lo - 1] as string }
        covered += lo
      }
      if (lo === w.seqs.length) continue
      keep.push(lo === 0 ? w : { seqs: w.seqs.subarray(lo), replies: w.replies.slice(lo) })
    }
    this.#waiting = keep
    this.#held -= covered
    if (best >= 0) {
      this.#nc.publish(bestReply, ACK)
      this.#onAck(covered)
    }
  }

  /** Reads the floor again; closes holes of sequences the stream does not hold. */
  async #check (): Promise<void> {
    this.#follow()
    if (this.#held === 0 || this.#checking) return
    this.#checking = true
    try {
      const key = this.#key
      const server = await this.#src.consumerAckFloor()
      if (key !== this.#key) return
      if (server > this.#floor) this.#floor = server
      const through = await this.#src.settledThrough(key, this.#floor)
      if (key !== this.#key) return
      this.advance(through)
      if (this.#held === 0) return
      const now = Date.now()
      if (this.#stuckSince === 0) { this.#stuckSince = now; return }
      if (now - this.#stuckSince < GAP_AFTER_MS) return
      await this.#closeHole(key)
    } finally {
      this.#checking = false
    }
  }

  /**
   * The floor has not moved for GAP_AFTER_MS while committed messages wait above it. The next
   * sequence is either pending somewhere (delivered, uncommitted: wait) or not in the stream at all
   * (below its first sequence, or deleted): those are recorded as settled.
   */
  async #closeHole (key: string): Promise<void> {
    const from = this.#floor + 1
    const lowestHeld = Math.min(...this.#waiting.map((w) => w.seqs[0] as number))
    const first = await this.#src.streamFirstSeq()
    let to = Math.min(first - 1, lowestHeld - 1)
    let probes = 0
    while (to + 1 < lowestHeld && probes < MAX_PROBES && !(await this.#src.messageExists(Math.max(to + 1, from)))) {
      to = Math.max(to + 1, from)
      probes++
    }
    if (to < from || key !== this.#key) return
    await this.#src.recordAbsent(key, from, to)
    this.#log.warn({ from, to }, 'sequences absent from the stream recorded as settled (deleted or dropped by its limits)')
    this.advance(await this.#src.settledThrough(key, to))
  }
}

/**
 * The only place that acks, naks, terms or extends JetStream messages. A message is addressed by
 * its reply subject; every answer is one core-NATS publish of a constant payload.
 *
 *   committed batch  → ack every message whose row committed (or had committed before: ledger);
 *                      term every dead-lettered one
 *   failed batch     → nak(delay) every message (nothing of it is visible in the database)
 *   held batch       → working(): resets the ack timer while a batch waits on a slow database,
 *                      so JetStream does not redeliver a copy we still hold
 *   part of a batch  → the same, for the messages marked in `only` (a bisected batch settles in parts)
 *
 * The pipeline settles each batch once. term takes no reason: nats-server 2.9 does not understand
 * `+TERM reason` and would leave the message awaiting ack; the reason is kept in rejected_messages.
 *
 * Ack policy `all` (an AckFloor given): a committed batch sends nothing per message; its messages,
 * dead-lettered ones included (never +TERM: that would ack everything below), wait in the floor and are
 * acked by range once the ledger is contiguous up to them. nak and working stay per message.
 */
import { nanos, type NatsConnection } from '@nats-io/transport-node'
import type { Rejection } from '../contracts.js'
import type { AckFloor } from './ack-floor.js'

const ACK = Uint8Array.of(0x2b, 0x41, 0x43, 0x4b) // +ACK
const TERM = Uint8Array.of(0x2b, 0x54, 0x45, 0x52, 0x4d) // +TERM
const WPI = Uint8Array.of(0x2b, 0x57, 0x50, 0x49) // +WPI
const enc = new TextEncoder()

export interface SettleCounts { readonly acked: number, readonly termed: number }

/** The one NatsConnection member the settler uses (unit tests hand in a fake). */
export type Publisher = Pick<NatsConnection, 'publish'>

export class Settler {
  readonly #nc: Publisher
  readonly #nakPayloads = new Map<number, Uint8Array>()

  readonly #floor: AckFloor | undefined

  constructor (nc: Publisher, floor?: AckFloor) {
    this.#nc = nc
    this.#floor = floor
  }

  /** The ack floor to hand the writer (BatchMeta.ackFloor); undefined under explicit acks. */
  get ackFloor (): number | undefined { return this.#floor?.floor }

  /**
   * `only`: settle just the messages marked 1 (absent: all of them). `through`: the ledger floor the
   * committing transaction read (ack policy `all`).
   */
  committed (replies: readonly string[], rejections: readonly Rejection[], only?: Uint8Array, seqs?: ArrayLike<number>, through?: number): SettleCounts {
    const floor = this.#floor
    if (floor !== undefined && seqs !== undefined) {
      floor.committed(seqs, replies, through ?? floor.floor, only)
      const refused = wholeRefusals(replies.length, rejections)
      let n = 0
      for (let i = 0; i < replies.length; i++) if ((only === undefined || only[i] === 1) && refused[i] !== 1) n++
      return { acked: n, termed: rejections.length }
    }
    // An array payload with refused elements is acked (its other elements are rows); a message refused whole is terminated.
    const termed = wholeRefusals(replies.length, rejections)
    const nc = this.#nc
    let acked = 0
    for (let i = 0; i < replies.length; i++) {
      if (only !== undefined && only[i] !== 1) continue
      if (termed[i] !== 1) acked++
      nc.publish(replies[i] as string, termed[i] === 1 ? TERM : ACK)
    }
    return { acked, termed: rejections.length }
  }

  /**
   * Redelivery after `delayMs` (at least 1 ms: with a `backoff` list, nats-server applies the backoff
   * delay, minutes, to a NAK that names no delay).
   */
  nak (replies: readonly string[], delayMs: number, skip?: Uint8Array): void {
    const ms = Math.max(1, Math.round(delayMs))
    let payload = this.#nakPayloads.get(ms)
    if (payload === undefined) {
      payload = enc.encode(`-NAK ${JSON.stringify({ delay: nanos(ms) })}`)
      this.#nakPayloads.set(ms, payload)
    }
    for (let i = 0; i < replies.length; i++) if (skip?.[i] !== 1) this.#nc.publish(replies[i] as string, payload)
  }

  /** `skip`: messages marked 1 are settled already and left alone. */
  keepAlive (replies: readonly string[], skip?: Uint8Array): void {
    for (let i = 0; i < replies.length; i++) if (skip?.[i] !== 1) this.#nc.publish(replies[i] as string, WPI)
  }
}

/** 1 for each message refused as a whole (not just some of its array elements). */
function wholeRefusals (count: number, rejections: readonly Rejection[]): Uint8Array {
  const whole = new Uint8Array(count)
  for (const r of rejections) if (r.element === undefined) whole[r.index] = 1
  return whole
}

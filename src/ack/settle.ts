/**
 * The only place that acks, naks, terms or extends JetStream messages.
 *
 *   committed batch  → ack every message whose row committed; term every dead-lettered one
 *   failed batch     → nak(delay) every message (nothing of it is visible in the database)
 *   held batch       → working(): resets the ack timer while a batch waits on a slow database,
 *                      so JetStream does not redeliver a copy we still hold
 *
 * Each JsMsg settles once: nats.js ignores a second ack/nak/term on the same message.
 * term() takes no reason: nats-server 2.9 does not understand `+TERM reason` and would leave the
 * message awaiting ack; the reason is kept in rejected_messages instead.
 */
import type { JsMsg } from '@nats-io/jetstream'
import type { Rejection } from '../contracts.js'

export interface SettleCounts { readonly acked: number, readonly termed: number }

export function settleCommitted (msgs: readonly JsMsg[], rejections: readonly Rejection[]): SettleCounts {
  const termed = new Uint8Array(msgs.length)
  for (const r of rejections) termed[r.index] = 1
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i] as JsMsg
    if (termed[i] === 1) m.term()
    else m.ack()
  }
  return { acked: msgs.length - rejections.length, termed: rejections.length }
}

export function nakAll (msgs: readonly JsMsg[], delayMs: number): void {
  for (const m of msgs) m.nak(delayMs)
}

/**
 * Redeliver as soon as possible. A plain NAK would not do: with a `backoff` list, nats-server applies
 * the backoff delay (minutes) to a NAK that names no delay, so we name the smallest one.
 */
export function nakNow (msgs: readonly JsMsg[]): void {
  for (const m of msgs) m.nak(1)
}

export function keepAlive (msgs: readonly JsMsg[]): void {
  for (const m of msgs) m.working()
}

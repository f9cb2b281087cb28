/**
 * Delivery count, stream sequence and pending count from a JetStream ack reply subject, read without
 * allocating (this runs per message). nats-server 2.9 sends
 *
 *   $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
 *
 * parsed forward from the known prefix. Other layouts (newer servers insert `<domain>.<account hash>.`
 * and append a token) take the generic split.
 */
const DOT = 46
const ZERO = 48

export class AckReplyReader {
  readonly #prefix: string
  /** Results of the last read(). */
  delivered = 0
  seq = 0

  constructor (stream: string, consumer: string) {
    this.#prefix = `$JS.ACK.${stream}.${consumer}.`
  }

  read (reply: string): void {
    if (reply.startsWith(this.#prefix)) {
      const end = reply.length // a truncated subject must not loop past its end
      let p = this.#prefix.length
      let delivered = 0
      let c = reply.charCodeAt(p)
      while (c !== DOT && p < end) { delivered = delivered * 10 + c - ZERO; c = reply.charCodeAt(++p) }
      let seq = 0
      c = reply.charCodeAt(++p)
      while (c !== DOT && p < end) { seq = seq * 10 + c - ZERO; c = reply.charCodeAt(++p) }
      this.delivered = delivered
      this.seq = seq
      return
    }
    const t = reply.split('.')
    const base = tokenBase(t.length)
    this.delivered = Number(t[base + 2])
    this.seq = Number(t[base + 3])
  }

  /** The pending count `reply` carries (read once per batch, from its last message). */
  pending (reply: string): number {
    if (!reply.startsWith(this.#prefix)) {
      const t = reply.split('.')
      return Number(t[tokenBase(t.length) + 6])
    }
    const end = reply.length
    let p = reply.lastIndexOf('.', end - 1) + 1
    let v = 0
    for (; p < end; p++) v = v * 10 + reply.charCodeAt(p) - ZERO
    return v
  }
}

/** 9 tokens: the 2.9 layout; 11–12: with domain and account hash. */
function tokenBase (tokens: number): number {
  return tokens === 9 ? 2 : 4
}

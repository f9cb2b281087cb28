/**
 * A hostile publisher for the soak test: valid readings (unique keys, see load.ts) mixed with every
 * kind of payload a careless or malicious sensor can send, in rounds and bursts.
 *
 *   round  = 150 valid · 2 fat valid (~60 KB, under nats.max_payload_bytes) · one of each HOSTILE kind
 *            · one oversized payload (65 KB … 1 MB, every other round)
 *   burst  = every 4th round, 1,500 more valid readings at once
 *
 * Each message is published with JetStream acks and a unique Nats-Msg-Id, retried with the same id
 * until acknowledged, so `published` is exactly what the stream stored and `expected` says what
 * each must become (a row, or a dead letter with this reason).
 */
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import { SUBJECT, validPayload } from './load.js'
import { sleep, type Faults } from './harness.js'

const enc = new TextEncoder()
const TS = '"timestamp":"2025-07-13T10:00:00Z","temperature":1,"spindle_speed":2'

/** Each hostile kind: a payload maker (r = round number) and the dead-letter reason it must get. */
export const HOSTILE: ReadonlyArray<{ readonly kind: string, readonly reason: string, readonly make: (r: number) => Uint8Array }> = [
  { kind: 'deep nesting', reason: 'too_deep', make: (r) => enc.encode(`{"machine_id":"H",${TS},"x":${'['.repeat(40 + (r * 997) % 20_000)}${']'.repeat(40 + (r * 997) % 20_000)}}`) },
  { kind: 'invalid UTF-8', reason: 'invalid_utf8', make: (r) => Uint8Array.from([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xc3, 0x28 + (r % 8), 0x22, 0x7d]) },
  { kind: 'overlong UTF-8 surrogate bytes', reason: 'invalid_utf8', make: () => Uint8Array.from([...enc.encode('{"machine_id":"'), 0xed, 0xa0, 0x80, ...enc.encode(`",${TS}}`)]) },
  { kind: 'number overflowing a float', reason: 'schema', make: (r) => enc.encode(`{"machine_id":"H","timestamp":"2025-07-13T10:00:00Z","temperature":1e${999 + r},"spindle_speed":2}`) },
  { kind: '30,000-digit number', reason: 'schema', make: () => enc.encode(`{"machine_id":"H","timestamp":"2025-07-13T10:00:00Z","temperature":${'9'.repeat(30_000)},"spindle_speed":2}`) },
  { kind: 'long machine id', reason: 'schema', make: (r) => enc.encode(`{"machine_id":"${'M'.repeat(129 + (r * 7919) % 60_000)}",${TS}}`) },
  { kind: 'lone surrogate id', reason: 'invalid_unicode', make: (r) => enc.encode(`{"machine_id":"CNC-\\ud${(0x800 + r % 0x800).toString(16)}",${TS}}`) },
  { kind: 'fields under __proto__', reason: 'schema', make: () => enc.encode(`{"__proto__":{"machine_id":"H",${TS}}}`) },
  { kind: 'not JSON', reason: 'invalid_json', make: (r) => enc.encode(`{"machine_id":"H",${TS},`.repeat(1 + r % 50)) },
]

/** A valid reading padded to about `bytes` with an unknown field (stored: unknown fields are ignored). */
const fatValid = (n: number, bytes: number): Uint8Array => enc.encode(validPayload(n).replace('{', `{"pad":"${'p'.repeat(bytes)}",`))

/** A valid reading far over nats.max_payload_bytes (dead-lettered; only a prefix is kept). */
const oversized = (r: number): Uint8Array => enc.encode(validPayload(0).replace('{', `{"pad":"${'o'.repeat(65_536 + (r * 104_729) % 935_000)}",`))

export class HostilePublisher {
  /** Valid readings JetStream acknowledged (each must be one row). */
  valid = 0
  /** Every message JetStream acknowledged. */
  published = 0
  /** Dead letters expected, by reason. */
  readonly expected = new Map<string, number>()
  oversizedBytes = 0
  #seq = 0
  #ids = 0
  readonly #js: Promise<JetStreamClient>
  readonly #window: number

  constructor (f: Faults, window = 64) {
    this.#js = f.nc().then((nc) => jetstream(nc, { timeout: 10_000 }))
    this.#window = window
  }

  /** Publishes rounds until `durationMs` has passed; resolves once every started message is acknowledged. */
  async run (durationMs: number): Promise<void> {
    const js = await this.#js
    const until = Date.now() + durationMs
    for (let round = 0; Date.now() < until; round++) {
      const batch: Array<{ payload: Uint8Array, reason: string | null }> = []
      const valid = round % 4 === 3 ? 1_650 : 150
      for (let i = 0; i < valid; i++) batch.push({ payload: enc.encode(validPayload(this.#seq++)), reason: null })
      for (let i = 0; i < 2; i++) batch.push({ payload: fatValid(this.#seq++, 58_000 + (round % 5) * 1_000), reason: null })
      for (const h of HOSTILE) batch.push({ payload: h.make(round), reason: h.reason })
      if (round % 2 === 0) batch.push({ payload: oversized(round), reason: 'payload_too_large' })
      await this.#publishAll(js, batch)
    }
  }

  async #publishAll (js: JetStreamClient, batch: ReadonlyArray<{ payload: Uint8Array, reason: string | null }>): Promise<void> {
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < batch.length) {
        const m = batch[next++] as { payload: Uint8Array, reason: string | null }
        await this.#publishOnce(js, m.payload, `h-${this.#ids++}`)
        this.published++
        if (m.reason === null) {
          this.valid++
        } else {
          this.expected.set(m.reason, (this.expected.get(m.reason) ?? 0) + 1)
          if (m.reason === 'payload_too_large') this.oversizedBytes += m.payload.length
        }
      }
    }
    await Promise.all(Array.from({ length: this.#window }, worker))
  }

  async #publishOnce (js: JetStreamClient, payload: Uint8Array, msgID: string): Promise<void> {
    const until = Date.now() + 120_000
    for (;;) {
      try {
        await js.publish(SUBJECT, payload, { msgID })
        return
      } catch (err) {
        if (Date.now() > until) throw err
        await sleep(100)
      }
    }
  }
}

/**
 * Reading generator and NATS helpers shared by the seed scripts, the benchmarks and the tests.
 * Nothing here is on the service's path.
 */
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { ensureStream } from '../../src/ingest/jetstream-setup.js'

export interface SeedReading {
  machine_id: string
  timestamp: string
  temperature: number
  spindle_speed: number
  x_pos_mm: number
  y_pos_mm: number
  z_pos_mm: number
  feed_rate_actual: number
  spindle_load_percent: number
  machine_state: string
  active_program_line: number
  total_power_kw: number
}

const STATES = ['RUNNING', 'IDLE', 'ALARM', 'SETUP'] as const

/** A plausible reading; `n` varies the values deterministically. */
export function makeReading (machineId: string, n: number, at: Date = new Date()): SeedReading {
  return {
    machine_id: machineId,
    timestamp: at.toISOString(),
    temperature: 40 + (n % 200) / 10,
    spindle_speed: 1000 + (n % 50) * 20,
    x_pos_mm: (n % 1000) / 10,
    y_pos_mm: (n % 700) / 10,
    z_pos_mm: -(n % 300) / 10,
    feed_rate_actual: 500 + (n % 100),
    spindle_load_percent: (n % 100),
    machine_state: STATES[n % STATES.length] as string,
    active_program_line: n % 5000,
    total_power_kw: 5 + (n % 40) / 10,
  }
}

export function natsUrl (): string {
  return process.env.CNC_NATS_URL ?? 'nats://127.0.0.1:4222'
}

export function streamName (): string {
  return process.env.CNC_NATS_STREAM ?? 'CNC_DATA'
}

/** Connects and makes sure the stream exists (as the service would), so scripts can run before it. */
export async function connectNats (url = natsUrl(), stream = streamName()): Promise<NatsConnection> {
  const nc = await connect({ servers: url, noAsyncTraces: true, name: 'cnc-monitor-seed' })
  await ensureStream(await jetstreamManager(nc), stream, pino({ level: 'silent' }))
  return nc
}

const encoder = new TextEncoder()
export function encode (value: unknown): Uint8Array {
  return encoder.encode(typeof value === 'string' ? value : JSON.stringify(value))
}

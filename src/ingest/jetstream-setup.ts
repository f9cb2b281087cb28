/**
 * Start-up side of ingest: the stream is created when missing, with the configured limits (an
 * existing stream's config is never changed: it belongs to whoever operates NATS; limits that differ
 * from the configuration are logged), and the durable pull consumer is created or its tunable
 * settings updated to fit the batching:
 *
 *   max_ack_pending = batch_size × (max_in_flight + 1)   every batch in the pipeline plus the one filling
 *                     (or nats.max_ack_pending: the sum over all instances sharing the consumer)
 *   ack_wait        = backoff[0] (JetStream's rule)     above the worst batch time; held batches send +WPI
 *   max_deliver     finite, > backoff length            a message cannot loop forever
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiCodes, JetStreamApiError, type ConsumerConfig, type ConsumerInfo, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream'
import { millis, nanos } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import { pipelineBound } from './admission.js'

export function isApiError (err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code
}

export type StreamLimits = Pick<StreamConfig, 'max_age' | 'max_bytes' | 'max_msg_size' | 'discard' | 'num_replicas'>

/** The configured limits in JetStream's terms (nanoseconds; -1 = unlimited). */
export function streamLimits (cfg: Config): StreamLimits {
  const n = cfg.nats
  return {
    max_age: nanos(n.stream_max_age_ms),
    max_bytes: n.stream_max_bytes > 0 ? n.stream_max_bytes : -1,
    max_msg_size: n.stream_max_msg_size > 0 ? n.stream_max_msg_size : -1,
    discard: n.stream_discard === 'new' ? DiscardPolicy.New : DiscardPolicy.Old,
    num_replicas: n.stream_replicas,
  }
}

/** Limits of `actual` that differ from `wanted`, as `key: actual (configured wanted)`. */
export function limitDifferences (actual: Partial<StreamConfig>, wanted: StreamLimits): string[] {
  const out: string[] = []
  for (const key of Object.keys(wanted) as Array<keyof StreamLimits>) {
    // nats-server reports an unset limit as -1 or 0 depending on the field.
    const norm = (v: unknown): unknown => (typeof v === 'number' && v <= 0 && key !== 'num_replicas' ? -1 : v)
    if (norm(actual[key]) !== norm(wanted[key])) out.push(`${key}: ${String(actual[key])} (configured ${String(wanted[key])})`)
  }
  return out
}

/**
 * Returns the stream's identity for the ingest ledger: `<name>@<creation time>`. A missing stream is
 * created with `limits` (none when omitted: test fixtures).
 */
export async function ensureStream (jsm: JetStreamManager, stream: string, log: Logger, limits?: StreamLimits): Promise<string> {
  try {
    const info = await jsm.streams.info(stream)
    log.info({ stream, subjects: info.config.subjects, messages: info.state.messages }, 'using existing stream')
    const differ = limits === undefined ? [] : limitDifferences(info.config, limits)
    if (differ.length > 0) log.warn({ stream, differ }, 'existing stream\'s limits differ from nats.stream_* (left as its operator set them)')
    return `${stream}@${info.created}`
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err
    const info = await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], ...limits })
    log.info({ stream, subjects: [`${stream}.>`], ...limits, ...(limits === undefined ? {} : { max_age: undefined, max_age_ms: millis(limits.max_age ?? 0) }) }, 'created stream')
    return `${stream}@${info.created}`
  }
}

export function consumerSettings (cfg: Config): Pick<ConsumerConfig, 'ack_wait' | 'max_deliver' | 'max_ack_pending' | 'backoff'> {
  const backoff = cfg.nats.backoff_ms.map((ms) => nanos(ms))
  return {
    ack_wait: nanos(cfg.nats.backoff_ms[0] ?? cfg.nats.ack_wait_ms),
    max_deliver: cfg.nats.max_deliver,
    max_ack_pending: cfg.nats.max_ack_pending > 0 ? cfg.nats.max_ack_pending : pipelineBound(cfg.ingest.batch_size, cfg.ingest.max_in_flight, 0).messages,
    ...(backoff.length > 0 ? { backoff } : {}),
  }
}

/** Settings for the log: durations in ms (JetStream's unit is ns: 60000000000 reads badly). */
function loggable (s: ReturnType<typeof consumerSettings>): Record<string, unknown> {
  const { ack_wait: ackWait, backoff, ...rest } = s
  return { ...rest, ack_wait_ms: millis(ackWait ?? 0), ...(backoff === undefined ? {} : { backoff_ms: backoff.map((ns) => millis(ns)) }) }
}

/**
 * Creates the durable consumer when missing (delivering from `startSeq`: 1 at start-up, past the last
 * ack floor when it is recreated under a running service), else updates its tunable settings.
 */
export interface ConsumerState {
  /** The consumer's ack policy as it exists (an existing consumer keeps its own). */
  readonly ackPolicy: 'all' | 'explicit'
  /** Its ack floor, stream sequence. */
  readonly ackFloor: number
}

export async function ensureConsumer (jsm: JetStreamManager, cfg: Config, log: Logger, startSeq = 1): Promise<ConsumerState> {
  const { stream, consumer } = cfg.nats
  const settings = consumerSettings(cfg)
  let existing: ConsumerInfo
  try {
    existing = await jsm.consumers.info(stream, consumer)
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err
    const created = await jsm.consumers.add(stream, {
      durable_name: consumer,
      ack_policy: cfg.nats.ack_policy === 'all' ? AckPolicy.All : AckPolicy.Explicit,
      ...(startSeq > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq } : { deliver_policy: DeliverPolicy.All }),
      ...settings,
    })
    log.info({ stream, consumer, startSeq, ackPolicy: cfg.nats.ack_policy, ...loggable(settings) }, 'created durable consumer')
    return stateOf(created)
  }
  const state = stateOf(existing)
  if (state.ackPolicy !== cfg.nats.ack_policy) {
    log.warn({ stream, consumer, ackPolicy: state.ackPolicy, configured: cfg.nats.ack_policy },
      'existing consumer keeps its ack policy (JetStream cannot change it; delete the consumer to switch: the ingest ledger keeps the switch exactly-once)')
  }
  const updated = await jsm.consumers.update(stream, consumer, settings)
  log.info({ stream, consumer, ackPolicy: state.ackPolicy, ...loggable(settings) }, 'updated durable consumer')
  return stateOf(updated)
}

function stateOf (ci: ConsumerInfo): ConsumerState {
  return { ackPolicy: ci.config.ack_policy === AckPolicy.All ? 'all' : 'explicit', ackFloor: ci.ack_floor.stream_seq }
}

/** Whether the stream still holds message `seq` (false: deleted, or dropped by the stream's limits). */
export async function messageExists (jsm: JetStreamManager, stream: string, seq: number): Promise<boolean> {
  try {
    return (await jsm.streams.getMessage(stream, { seq })) !== null
  } catch (err) {
    if (isApiError(err, JetStreamApiCodes.NoMessageFound)) return false
    throw err
  }
}

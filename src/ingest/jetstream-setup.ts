/**
 * Start-up side of ingest: the stream is created when missing (an existing stream's config is never
 * changed: it belongs to whoever operates NATS), and the durable pull consumer is created or its
 * tunable settings updated to fit the batching:
 *
 *   max_ack_pending = batch_size × (max_in_flight + 1)   every batch in the pipeline plus the one filling
 *                     (or nats.max_ack_pending: the sum over all instances sharing the consumer)
 *   ack_wait        = backoff[0] (JetStream's rule)     above the worst batch time; held batches send +WPI
 *   max_deliver     finite, > backoff length            a message cannot loop forever
 */
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type ConsumerConfig, type JetStreamManager } from '@nats-io/jetstream'
import { millis, nanos } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'

function isApiError (err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code
}

/** Returns the stream's identity for the ingest ledger: `<name>@<creation time>`. */
export async function ensureStream (jsm: JetStreamManager, stream: string, log: Logger): Promise<string> {
  try {
    const info = await jsm.streams.info(stream)
    log.info({ stream, subjects: info.config.subjects, messages: info.state.messages }, 'using existing stream')
    return `${stream}@${info.created}`
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err
    const info = await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
    log.info({ stream, subjects: [`${stream}.>`] }, 'created stream')
    return `${stream}@${info.created}`
  }
}

export function consumerSettings (cfg: Config): Pick<ConsumerConfig, 'ack_wait' | 'max_deliver' | 'max_ack_pending' | 'backoff'> {
  const backoff = cfg.nats.backoff_ms.map((ms) => nanos(ms))
  return {
    ack_wait: nanos(cfg.nats.backoff_ms[0] ?? cfg.nats.ack_wait_ms),
    max_deliver: cfg.nats.max_deliver,
    max_ack_pending: cfg.nats.max_ack_pending > 0 ? cfg.nats.max_ack_pending : cfg.ingest.batch_size * (cfg.ingest.max_in_flight + 1),
    ...(backoff.length > 0 ? { backoff } : {}),
  }
}

/** Settings for the log: durations in ms (JetStream's unit is ns: 60000000000 reads badly). */
function loggable (s: ReturnType<typeof consumerSettings>): Record<string, unknown> {
  const { ack_wait: ackWait, backoff, ...rest } = s
  return { ...rest, ack_wait_ms: millis(ackWait ?? 0), ...(backoff === undefined ? {} : { backoff_ms: backoff.map((ns) => millis(ns)) }) }
}

export async function ensureConsumer (jsm: JetStreamManager, cfg: Config, log: Logger): Promise<void> {
  const { stream, consumer } = cfg.nats
  const settings = consumerSettings(cfg)
  try {
    await jsm.consumers.info(stream, consumer)
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err
    await jsm.consumers.add(stream, {
      durable_name: consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ...settings,
    })
    log.info({ stream, consumer, ...loggable(settings) }, 'created durable consumer')
    return
  }
  await jsm.consumers.update(stream, consumer, settings)
  log.info({ stream, consumer, ...loggable(settings) }, 'updated durable consumer')
}

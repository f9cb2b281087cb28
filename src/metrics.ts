/**
 * The prom-client registry and the pipeline's instruments. Names follow Prometheus conventions
 * (`_total` counters, `_seconds` durations); the HTTP layer adds its own in api/.
 *
 * Naming invariant: the default Node.js and process metrics keep their standard, unprefixed names
 * (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `nodejs_eventloop_lag_seconds`,
 * `nodejs_heap_size_used_bytes`, …) because stock Node.js dashboards and alert rules query exactly
 * those; every metric of this service's own starts with `cnc_`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** Read by the ingest-health gauges when scraped; set by the service once the pipeline exists. */
export interface IngestHealth {
  /** ms since 1970 of the last COMMIT (0: none yet). */
  lastCommitAt: () => number
  /** ms since 1970 of the last COMMIT or successful probe write. */
  lastWriteOkAt: () => number
  stalled: () => boolean
  /** Replay delay of the API database in seconds; null while unknown or unreachable. */
  replicaLagSeconds: () => number | null
}

export function createMetrics () {
  const registry = new Registry()
  const startedAt = Date.now()
  const health: IngestHealth = { lastCommitAt: () => 0, lastWriteOkAt: () => 0, stalled: () => false, replicaLagSeconds: () => null }
  const age = (at: number): number => (Date.now() - (at > 0 ? at : startedAt)) / 1000
  collectDefaultMetrics({ register: registry })
  const reg = [registry]
  return {
    registry,
    health,
    received: new Counter({ name: 'cnc_messages_received_total', help: 'Messages pulled from JetStream', registers: reg }),
    committed: new Counter({ name: 'cnc_messages_committed_total', help: 'Readings committed to sensor_data (and acked)', registers: reg }),
    rejected: new Counter({ name: 'cnc_messages_rejected_total', help: 'Messages dead-lettered to rejected_messages (and termed), by reason', labelNames: ['reason'] as const, registers: reg }),
    nakd: new Counter({ name: 'cnc_messages_nakd_total', help: 'Messages nak\'d for redelivery because the database was unavailable', registers: reg }),
    rangeAcked: new Counter({ name: 'cnc_messages_range_acked_total', help: 'Messages settled by range acks (ack policy all): committed or dead-lettered, covered by one +ACK', registers: reg }),
    duplicates: new Counter({ name: 'cnc_messages_already_committed_total', help: 'Redelivered messages the ledger showed as committed before (acked, not written again)', registers: reg }),
    redelivered: new Counter({ name: 'cnc_messages_redelivered_total', help: 'Messages JetStream delivered more than once', registers: reg }),
    pullStalls: new Counter({ name: 'cnc_pull_stalls_total', help: 'Times the pull consumer heard nothing (not even heartbeats) and pulled again', registers: reg }),
    natsReconnects: new Counter({ name: 'cnc_nats_reconnects_total', help: 'Reconnections to NATS', registers: reg }),
    batchFailures: new Counter({ name: 'cnc_batch_failures_total', help: 'Batches rolled back by a transient database error', registers: reg }),
    writeRetries: new Counter({ name: 'cnc_write_retries_total', help: 'Held batches scheduled for another write attempt after a failure', registers: reg }),
    bisected: new Counter({ name: 'cnc_batches_bisected_total', help: 'Batch writes split to find the messages behind a repeating failure', registers: reg }),
    leaderElections: new Counter({ name: 'cnc_jetstream_leader_elections_total', help: 'JetStream leader elections seen for the stream or its consumer (cluster failover; advisories missed while disconnected are not counted)', labelNames: ['kind'] as const, registers: reg }),
    batchSize: new Histogram({ name: 'cnc_batch_size', help: 'Messages per batch', buckets: [1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000], registers: reg }),
    commitDuration: new Histogram({ name: 'cnc_commit_duration_seconds', help: 'BEGIN to COMMIT of one batch', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: reg }),
    publishToCommit: new Histogram({ name: 'cnc_publish_to_commit_seconds', help: 'Reading timestamp to its commit (includes sensor clock skew)', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers: reg }),
    consumerPending: new Gauge({ name: 'cnc_consumer_pending_messages', help: 'Stream messages not yet delivered to the consumer', registers: reg }),
    consumerAckPending: new Gauge({ name: 'cnc_consumer_ack_pending_messages', help: 'Messages delivered and awaiting ack', registers: reg }),
    batchesInFlight: new Gauge({ name: 'cnc_batches_in_flight', help: 'Batches between pull and ack', registers: reg }),
    lastCommit: new Gauge({ name: 'cnc_last_commit_timestamp_seconds', help: 'Unix time of the last committed batch', registers: reg }),
    stalled: new Gauge({ name: 'cnc_ingest_stalled', help: '1 while messages wait and no batch has committed for ingest.stall_after_ms', registers: reg, collect () { this.set(health.stalled() ? 1 : 0) } }),
    lastCommitAge: new Gauge({ name: 'cnc_last_commit_age_seconds', help: 'Seconds since the last batch committed (since start when none has)', registers: reg, collect () { this.set(age(health.lastCommitAt())) } }),
    lastWriteAge: new Gauge({ name: 'cnc_last_successful_write_age_seconds', help: 'Seconds since the database last took a write (a commit or a probe write)', registers: reg, collect () { this.set(age(health.lastWriteOkAt())) } }),
    replicaLag: new Gauge({ name: 'cnc_db_replica_lag_seconds', help: 'Replay delay of the API database (database.api_url): 0 on a primary or a caught-up replica, NaN while unreachable', registers: reg, collect () { const s = health.replicaLagSeconds(); this.set(s ?? Number.NaN) } }),
    databaseMode: new Gauge({ name: 'cnc_database_mode', help: 'Database edition detected at start-up (1 on the active one): timescaledb, timescaledb-apache or postgres', labelNames: ['mode'] as const, registers: reg }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>

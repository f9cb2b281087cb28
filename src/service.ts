/**
 * Boot and shutdown of the whole service, usable in-process by tests. This file only wires: each
 * part owns its own start/close, and here stands the order.
 *
 *   start: HTTP server (/livez, /readyz) → database (create if missing) → features → migrations
 *          → NATS → stream + consumer → parser workers → writer → pipeline → alarms → pull consumer
 *          → watchers (NATS status, leader elections, max deliveries) → ingest summary, ledger
 *          pruning, retention
 *   close: readiness off → periodic tasks → stop pulling → drain the pipeline (commit + ack what is
 *          in flight) → workers → HTTP server → NATS drain → database pools; in reverse order of start.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import type pg from 'pg'
import type { Logger } from 'pino'
import { AckFloor } from './ack/ack-floor.js'
import { MaxDeliveriesListener } from './ack/max-deliveries.js'
import { Settler } from './ack/settle.js'
import { ApiServer, type Store } from './api/server.js'
import { LiveFeed } from './api/live-feed.js'
import type { Config } from './config/schema.js'
import { ensureConsumer, ensureStream, messageExists, streamLimits } from './ingest/jetstream-setup.js'
import { LeaderWatch } from './ingest/leader-watch.js'
import { pipelineBound } from './ingest/admission.js'
import { NatsWatch } from './ingest/nats-watch.js'
import { PullSource } from './ingest/pull-source.js'
import { StreamIdentity } from './ingest/stream-identity.js'
import { createMetrics, type Metrics } from './metrics.js'
import { IngestSummary } from './ops/ingest-summary.js'
import { ParserPool } from './parse/parser-pool.js'
import { Pipeline } from './pipeline.js'
import { Readiness } from './readiness.js'
import { ErrorCode } from './errors.js'
import { natsRetryable, pgRetryable, waitForDependency } from './startup-retry.js'
import { CopyWriter } from './write/copy-writer.js'
import { createPool, ensureDatabase, probeWrite, redactUrl } from './write/database.js'
import { detectFeatures, type DbFeatures } from './write/db-features.js'
import { CommitOrder } from './write/commit-order.js'
import { committedThrough, recordCommitted } from './write/ledger.js'
import { LedgerPruning } from './write/ledger-pruning.js'
import { migrate } from './write/migrate.js'
import { startRetention, type RetentionTask } from './write/retention.js'
import { applyTimescaleSettings } from './write/timescale-setup.js'
import { bucketQuery } from './store/buckets.js'
import { withCagg } from './store/cagg-buckets.js'
import { ShiftCalendar } from './time/shift-calendar.js'
import { AlarmEvaluator } from './alarms/evaluator.js'
import { ReplicaLag } from './store/replica-lag.js'

const REPLICA_LAG_EVERY_MS = 2_000

export type ServiceState = 'starting' | 'running' | 'draining' | 'closed'

export class Service {
  readonly config: Config
  readonly metrics: Metrics
  readonly #log: Logger
  #state: ServiceState = 'starting'
  #ingestPool: pg.Pool | undefined
  #apiPool: pg.Pool | undefined
  #nc: NatsConnection | undefined
  #jsm: JetStreamManager | undefined
  #parser: ParserPool | undefined
  #pipeline: Pipeline | undefined
  #source: PullSource | undefined
  #natsWatch: NatsWatch | undefined
  #server: ApiServer | undefined
  #features: DbFeatures | undefined
  #summary: IngestSummary | undefined
  #ledgerPruning: LedgerPruning | undefined
  #retention: RetentionTask | null = null
  #maxDeliveries: MaxDeliveriesListener | undefined
  readonly #readinessCheck: Readiness
  #identity: StreamIdentity | undefined
  #ackFloor: AckFloor | undefined
  #alarms: AlarmEvaluator | undefined
  #alarmPool: pg.Pool | undefined
  /** Live-feed resumes read the primary: the API's pool, or its own when database.api_url is a replica. */
  #resumePool: pg.Pool | undefined
  #leaderWatch: LeaderWatch | undefined
  #replicaLag: ReplicaLag | undefined

  constructor (config: Config, log: Logger) {
    this.config = config
    this.#log = log
    this.metrics = createMetrics()
    this.#readinessCheck = new Readiness({
      service: () => this.#state,
      natsConnected: () => this.#natsWatch?.connected ?? false,
      // The pull source's state, or why the stream identity gate holds batches (consumer gone, stream recreated).
      consumer: () => this.#source?.state === 'consuming' ? (this.#identity?.problem ?? 'consuming') : this.#source?.state,
      pipeline: () => this.#pipeline,
      consumerPending: async () => (await this.metrics.consumerPending.get()).values[0]?.value ?? 0,
      // With a read replica (database.api_url) the primary is checked: a replica away degrades the API
      // routes (503) and shows in the details, while ingest goes on.
      database: async () => {
        const pool = config.database.api_url === '' ? this.#apiPool : this.#ingestPool
        if (pool === undefined) throw new Error('not connected')
        await pool.query('SELECT 1')
      },
    }, { stallAfterMs: config.ingest.stall_after_ms, maxEventLoopDelayMs: config.ingest.max_event_loop_delay_ms })
    const health = this.metrics.health
    health.lastCommitAt = () => this.#pipeline?.lastCommitAt ?? 0
    health.lastWriteOkAt = () => this.#pipeline?.lastWriteOkAt ?? 0
    health.stalled = () => this.#readinessCheck.stalled()
    health.replicaLagSeconds = () => this.#replicaLag?.seconds ?? null
  }

  get state (): ServiceState { return this.#state }
  get features (): DbFeatures | undefined { return this.#features }
  get httpPort (): number { return this.#server?.port ?? 0 }
  get apiPool (): pg.Pool | undefined { return this.#apiPool }

  async start (): Promise<void> {
    const cfg = this.config
    const log = this.#log
    log.info({ nats: cfg.nats.url.split(',').map(redactUrl).join(','), stream: cfg.nats.stream, consumer: cfg.nats.consumer, database: redactUrl(cfg.database.url) }, 'starting')

    // The HTTP server comes up first so /livez answers and /readyz says what start-up waits for.
    let apiStore: Store | undefined
    // Issue 7: committed readings fan out to WebSocket clients (Pipeline.onCommitted below).
    const liveFeed = new LiveFeed({
      maxClients: cfg.live.max_clients,
      maxSubscriptionsPerClient: cfg.live.max_subscriptions_per_client,
      maxBufferedBytes: cfg.live.max_buffered_bytes,
      maxPerMachinePerSecond: cfg.live.max_per_machine_per_second,
      resumeMaxAgeS: cfg.live.resume_max_age_s,
      db: () => this.#features === undefined ? undefined : this.#resumePool,
      registry: this.metrics.registry,
      log: log.child({ stage: 'live' }),
    })
    this.#server = new ApiServer({
      host: cfg.http.host,
      port: cfg.http.port,
      authToken: cfg.http.auth_token,
      allowedHosts: cfg.http.allowed_hosts,
      allowedOrigins: cfg.http.allowed_origins,
      dbSlots: cfg.database.api_pool_size,
      dbWaitMs: cfg.http.db_wait_ms,
      backlog: { behind: () => this.#ingestBehind(), percent: cfg.http.backlog_heavy_read_percent },
      pageThreads: cfg.http.page_threads,
      registry: this.metrics.registry,
      readiness: {
        check: () => this.#readiness(),
        details: () => ({
          database_mode: this.#features?.edition ?? 'unknown',
          pipeline: this.#pipeline?.state ?? 'starting',
          ...(cfg.database.api_url === '' ? {} : { api_database: this.#replicaLag?.state ?? 'unknown', replica_lag_seconds: String(this.#replicaLag?.seconds ?? 'unknown') }),
        }),
        now: () => this.#state === 'running' ? null : { service: this.#state },
      },
      log: log.child({ stage: 'api' }),
      // The API's own pool (statement_timeout) and the bucket query of the detected mode.
      store: () => (apiStore ??= this.#apiPool !== undefined && this.#features !== undefined
        ? { db: this.#apiPool, buckets: this.#features.caggs ? withCagg(bucketQuery(this.#features.mode)) : bucketQuery(this.#features.mode) }
        : undefined),
      live: liveFeed,
      registryNotifyUrl: cfg.database.url,
      fleet: { runningStates: cfg.fleet.running_states, staleAfterSeconds: cfg.fleet.stale_after_seconds, maxGapSeconds: cfg.fleet.max_gap_seconds },
      plant: {
        calendar: new ShiftCalendar(cfg.plant),
        runningStates: cfg.fleet.running_states,
        maxGapSeconds: cfg.fleet.max_gap_seconds,
        microStopSeconds: cfg.plant.micro_stop_seconds,
        offlineAfterSeconds: cfg.plant.offline_after_seconds === 0 ? cfg.fleet.max_gap_seconds : cfg.plant.offline_after_seconds,
      },
    })
    await this.#server.start()

    const dbLog = log.child({ stage: 'write' })
    // Issue 15: dependencies not up yet are waited for (startup.wait_ms each), one line per attempt.
    const startupLog = log.child({ stage: 'startup' })
    await waitForDependency({ name: 'PostgreSQL', target: redactUrl(cfg.database.url), code: ErrorCode.dbUnavailable, retryable: pgRetryable, connect: () => ensureDatabase(cfg.database.url, dbLog) }, cfg.startup.wait_ms, startupLog)
    // One connection beyond the writer's slots, for ledger pruning, retention and dead-letter upkeep.
    // PostgreSQL itself bounds a stuck writer: lock waits, statements and idle transactions time out
    // (a frozen instance's transaction ends and its ledger lock passes to the others).
    this.#ingestPool = createPool(cfg.database.url, {
      max: cfg.database.ingest_pool_size + 1,
      applicationName: 'cnc-monitor-ingest',
      ...positive('statementTimeoutMs', cfg.database.ingest_statement_timeout_ms),
      ...positive('lockTimeoutMs', cfg.database.ingest_lock_timeout_ms),
      ...positive('idleInTransactionTimeoutMs', cfg.database.ingest_idle_in_transaction_timeout_ms),
    }, dbLog)
    this.#apiPool = createPool(cfg.database.api_url || cfg.database.url, { max: cfg.database.api_pool_size, applicationName: 'cnc-monitor-api', statementTimeoutMs: cfg.database.statement_timeout_ms }, log.child({ stage: 'api' }))
    this.#resumePool = cfg.database.api_url === ''
      ? this.#apiPool
      : createPool(cfg.database.url, { max: 2, applicationName: 'cnc-monitor-live', statementTimeoutMs: cfg.database.statement_timeout_ms }, log.child({ stage: 'live' }))
    this.#replicaLag = new ReplicaLag(this.#apiPool, REPLICA_LAG_EVERY_MS, log.child({ stage: 'api' }))
    this.#replicaLag.start()
    const client = await this.#ingestPool.connect()
    try {
      this.#features = await detectFeatures(client, dbLog)
      dbLog.info(this.#features, `database mode: ${this.#features.edition}`)
      this.metrics.databaseMode.set({ mode: this.#features.edition }, 1)
      await migrate(client, this.#features, dbLog)
      const timescale = await applyTimescaleSettings(client, this.#features, cfg.timescale, dbLog)
      if (this.#features.hypertable) dbLog.info(timescale, 'timescaledb settings')
    } finally {
      client.release()
    }

    const ingestLog = log.child({ stage: 'ingest' })
    this.#nc = await waitForDependency({
      name: 'NATS',
      target: cfg.nats.url.split(',').map(redactUrl).join(','),
      code: ErrorCode.natsUnavailable,
      retryable: natsRetryable,
      connect: () => connect({ servers: cfg.nats.url.split(','), name: 'cnc-monitor', noAsyncTraces: true, maxReconnectAttempts: -1 }),
      discard: (late) => { late.close().catch(() => {}) },
    }, cfg.startup.wait_ms, startupLog)
    this.#jsm = await jetstreamManager(this.#nc)
    const streamKey = await ensureStream(this.#jsm, cfg.nats.stream, ingestLog, streamLimits(cfg))
    const consumerState = await ensureConsumer(this.#jsm, cfg, ingestLog)
    // The service runs in the consumer's actual ack policy, and recreates it with that one.
    const runCfg: Config = consumerState.ackPolicy === cfg.nats.ack_policy ? cfg : { ...cfg, nats: { ...cfg.nats, ack_policy: consumerState.ackPolicy } }

    this.#parser = new ParserPool(cfg.ingest.parser_threads, cfg.ingest.max_in_flight, undefined, (err) => ingestLog.error({ err }, 'parser worker failed outside a batch; replaced'))
    const ingestPool = this.#ingestPool
    const jsm = this.#jsm
    // Where everything after `after` is settled: the ledger's contiguous floor (identity gate and range acks).
    const settledThrough = (key: string, after: number): Promise<number> => committedThrough(ingestPool, key, after)
    if (consumerState.ackPolicy === 'all') {
      this.#ackFloor = new AckFloor(this.#nc, {
        settledThrough,
        consumerAckFloor: async () => (await jsm.consumers.info(cfg.nats.stream, cfg.nats.consumer)).ack_floor.stream_seq,
        streamFirstSeq: async () => (await jsm.streams.info(cfg.nats.stream)).state.first_seq,
        messageExists: (seq) => messageExists(jsm, cfg.nats.stream, seq),
        recordAbsent: (key, lo, hi) => recordCommitted(ingestPool, key, [[lo, hi]]),
      }, () => this.#identity?.key ?? streamKey, consumerState.ackFloor, ingestLog, (n) => this.metrics.rangeAcked.inc(n))
    }
    const settler = new Settler(this.#nc, this.#ackFloor)
    // Batches reach the pipeline through the identity gate: the ledger key follows a recreated stream.
    const identity = this.#identity = new StreamIdentity({
      jsm: this.#jsm,
      config: runCfg,
      initialKey: streamKey,
      pipelineIdle: () => this.#pipeline !== undefined && this.#pipeline.inFlight === 0 && this.#pipeline.queued === 0,
      handOn: (b) => this.#pipeline?.accept(b),
      nak: (replies) => settler.nak(replies, cfg.nats.nak_delay_ms),
      keepAlive: (replies) => settler.keepAlive(replies),
      consumerBack: () => this.#source?.reset(),
      settledThrough,
      log: ingestLog,
    })
    // Live frames go out in commit-number order, whatever order the COMMIT answers arrive in (resume cursors).
    const commitOrder = new CommitOrder()
    this.#pipeline = new Pipeline(this.#parser, new CopyWriter(ingestPool, cfg.database.ingest_pool_size, cfg.ingest.write_timeout_ms, commitOrder), settler, this.metrics, log.child({ stage: 'pipeline' }), {
      maxInFlight: cfg.ingest.max_in_flight,
      ackWaitMs: cfg.nats.backoff_ms[0] ?? cfg.nats.ack_wait_ms,
      nakDelayMs: cfg.nats.nak_delay_ms,
      bound: pipelineBound(cfg.ingest.batch_size, cfg.ingest.max_in_flight, Math.max(cfg.ingest.max_batch_bytes, cfg.nats.max_payload_bytes)),
      streamKey: () => identity.key,
      // A fresh connection with its own deadlines, outside the pool: a probe must never hang, nor
      // take a pool slot a write is waiting for.
      probeWrite: () => probeWrite(cfg.database.url),
      retryMaxBackoffMs: cfg.ingest.retry_max_backoff_ms,
      maxWriteAttempts: cfg.ingest.max_write_attempts,
      onCommitted: (p, commitNo) => {
        commitOrder.inOrder(commitNo, () => liveFeed.publish(p, commitNo))
        this.#alarms?.committed(p)
      },
    })
    // Issue 12: alarm rules evaluated on committed readings, with their own connection.
    if (cfg.alarms.rules.length > 0) {
      this.#alarmPool = createPool(cfg.database.url, { max: 1, applicationName: 'cnc-monitor-alarms', statementTimeoutMs: cfg.database.statement_timeout_ms }, log.child({ stage: 'alarms' }))
      this.#alarms = new AlarmEvaluator(this.#alarmPool, {
        rules: cfg.alarms.rules,
        intervalMs: cfg.alarms.interval_ms,
        lateMarginMs: cfg.alarms.late_margin_ms,
        chunk: 5_000,
        push: (id, frame) => liveFeed.event(id, frame),
        behind: () => this.#ingestBehind(),
        deferMs: cfg.alarms.backlog_defer_ms,
        log: log.child({ stage: 'alarms' }),
        registry: this.metrics.registry,
      })
      await this.#alarms.start()
    }
    this.#source = new PullSource(this.#nc, {
      maxHoldMs: Math.min(5_000, Math.floor((cfg.nats.backoff_ms[0] ?? cfg.nats.ack_wait_ms) / 3)),
      stream: cfg.nats.stream,
      consumer: cfg.nats.consumer,
      batchSize: cfg.ingest.batch_size,
      lingerMs: cfg.ingest.linger_ms,
      maxPayloadBytes: cfg.nats.max_payload_bytes,
      maxBatchBytes: cfg.ingest.max_batch_bytes,
    }, identity.admit, this.#pipeline, this.metrics, ingestLog)
    this.#source.onConsumerGone(() => identity.suspect())
    this.#natsWatch = new NatsWatch(this.#nc, () => this.#source?.reset(), this.metrics, ingestLog)
    this.#natsWatch.start()
    this.#leaderWatch = new LeaderWatch(this.#nc, { stream: cfg.nats.stream, consumer: cfg.nats.consumer }, this.metrics, ingestLog)
    this.#maxDeliveries = new MaxDeliveriesListener(this.#nc, this.#jsm, ingestPool, { stream: cfg.nats.stream, consumer: cfg.nats.consumer, streamKey: () => identity.key }, this.metrics, ingestLog)
    this.#source.start()
    identity.start()
    this.#ackFloor?.start()
    this.#summary = new IngestSummary({
      everyMs: cfg.log.summary_interval_ms,
      metrics: this.metrics,
      consumerInfo: () => jsm.consumers.info(cfg.nats.stream, cfg.nats.consumer),
      inFlight: () => this.#pipeline?.inFlight,
      log,
    })
    this.#summary.start()
    this.#ledgerPruning = new LedgerPruning({
      db: ingestPool,
      stream: cfg.nats.stream,
      ackWaitMs: cfg.nats.ack_wait_ms,
      backoffMs: cfg.nats.backoff_ms,
      streamKey: () => identity.key,
      streamProblem: () => identity.problem,
      ackFloor: async () => (await jsm.consumers.info(cfg.nats.stream, cfg.nats.consumer)).ack_floor.stream_seq,
      liveCommitsMaxAgeS: cfg.live.resume_max_age_s,
      log: log.child({ stage: 'write' }),
    })
    this.#ledgerPruning.start()
    if (this.#features !== undefined) this.#retention = startRetention(this.#ingestPool, this.#features, cfg.timescale, log.child({ stage: 'write' }))
    this.#state = 'running'
    log.info({ parserThreads: this.#parser.threads, batchSize: cfg.ingest.batch_size, maxInFlight: cfg.ingest.max_in_flight }, 'ingest running')
  }

  /** Ingest works through a backlog: at least two batches waited in the stream after the last one taken in (alarm passes and heavy reads yield). */
  #ingestBehind (): boolean {
    return (this.#pipeline?.pendingAfter ?? 0) >= 2 * this.config.ingest.batch_size
  }

  #readiness (): Promise<Record<string, string> | null> {
    return this.#readinessCheck.check()
  }

  /** Graceful stop; resolves true when everything taken in was committed and acked (or nak'd). */
  async close (): Promise<boolean> {
    if (this.#state === 'closed' || this.#state === 'draining') return true
    this.#state = 'draining'
    const log = this.#log
    const deadline = Date.now() + this.config.ingest.shutdown_timeout_ms
    this.#summary?.close()
    this.#ledgerPruning?.close()
    this.#retention?.stop()
    await this.#source?.stop()
    // Batches the source handed on last pass the identity gate (a few ms), then the pipeline drains;
    // the advisory listener runs until the pipeline has closed (its last naks can reach max_deliver).
    const gated = (await this.#identity?.close(Math.min(5_000, Math.max(0, (deadline - Date.now()) / 2)))) ?? true
    const drained = ((await this.#pipeline?.close(Math.max(0, deadline - Date.now()))) ?? true) && gated
    await this.#maxDeliveries?.close(Math.max(1_000, deadline - Date.now()))
    await this.#ackFloor?.close()
    await this.#parser?.close()
    await this.#alarms?.close()
    this.#server?.close()
    this.#leaderWatch?.close()
    this.#replicaLag?.close()
    await this.#nc?.drain().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'NATS drain failed'))
    await this.#ingestPool?.end().catch(() => {})
    await this.#apiPool?.end().catch(() => {})
    await this.#alarmPool?.end().catch(() => {})
    if (this.#resumePool !== this.#apiPool) await this.#resumePool?.end().catch(() => {})
    this.#readinessCheck.close()
    this.#state = 'closed'
    log.info({ drained }, drained ? 'stopped cleanly' : 'stopped with work left to JetStream redelivery')
    return drained
  }
}

/** `{ [key]: ms }` when ms > 0 (0 in the configuration means no limit). */
function positive<K extends string> (key: K, ms: number): Partial<Record<K, number>> {
  return ms > 0 ? { [key]: ms } as Record<K, number> : {}
}

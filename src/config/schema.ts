import { availableParallelism } from 'node:os'
import { MACHINE_ID_SCHEMA } from '../machine-id.js'
import { AGGREGATE_FIELDS, type AggregateField } from '../reading-fields.js'
import type { FromSchema } from './from-schema.js'

/**
 * The one configuration schema. Defaults live here and nowhere else; `configs/config.yaml`
 * and `CNC_SECTION_KEY` environment variables override them, and ajv validates the result
 * once at boot (see load.ts). Every key is documented in the README's configuration table.
 * The Config type is derived from the schema (from-schema.ts): a key is declared once.
 */

/** Alarm rules (alarms.rules): the reading fields a rule may watch, comparisons and severities. */
export const ALARM_FIELDS = AGGREGATE_FIELDS
export type AlarmField = AggregateField
export const COMPARISONS = ['>', '>=', '<', '<='] as const
export type Comparison = typeof COMPARISONS[number]
export const SEVERITIES = ['info', 'warning', 'critical'] as const
export type Severity = typeof SEVERITIES[number]

const int = (minimum: number, maximum: number, dflt: number) =>
  ({ type: 'integer', minimum, maximum, default: dflt }) as const

/** Stream and consumer names: JetStream forbids spaces, dots, `*`, `>` and path separators. */
const natsName = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } as const

/** A fixed-length PostgreSQL interval, `<n> <unit>` (months and years vary in length, so are refused). */
export const INTERVAL_PATTERN = '^[1-9][0-9]{0,5} (second|minute|hour|day|week)s?$'
const interval = { type: 'string', pattern: INTERVAL_PATTERN } as const
/** An interval, or `off` / empty to disable the policy. */
const intervalOrOff = { type: 'string', pattern: '^(off|)$|' + INTERVAL_PATTERN } as const

const clock = { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$' } as const
const shiftProps = {
  name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,32}$' },
  start: clock,
  end: clock,
  breaks: {
    type: 'array',
    maxItems: 16,
    default: [],
    items: { type: 'object', additionalProperties: false, required: ['start', 'end'], properties: { start: clock, end: clock } },
  },
} as const
const weekday = { enum: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] } as const

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    nats: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** One server URL or a comma-separated list of a cluster's servers (seeds; the client tries them in turn). */
        url: { type: 'string', pattern: '^(nats|tls|ws|wss)://[^\\s,]+(,(nats|tls|ws|wss)://[^\\s,]+)*$', default: 'nats://127.0.0.1:4222' },
        stream: { ...natsName, default: 'CNC_DATA' },
        consumer: { ...natsName, default: 'PROCESSOR' },
        /** Redelivery wait for an unacked message; must exceed the worst batch time. */
        ack_wait_ms: int(1_000, 3_600_000, 60_000),
        max_deliver: int(2, 1_000, 50),
        /**
         * Ack policy of a consumer the service creates: 'explicit' = one ack per message; 'all' = one range
         * ack per advance of the ledger's contiguous commit floor (ack/ack-floor.ts): faster, but on
         * nats-server 2.9 a server restart or failover can leave messages pending below the ack floor
         * (README, Delivery guarantees). An existing consumer keeps the policy it has (JetStream cannot
         * change it) and the service follows it.
         */
        ack_policy: { enum: ['all', 'explicit'], default: 'explicit' },
        /** Redelivery delays after ack_wait expiries (JetStream consumer `backoff`). */
        backoff_ms: {
          type: 'array',
          items: { type: 'integer', minimum: 1_000, maximum: 86_400_000 },
          maxItems: 50,
          default: [60_000, 120_000, 300_000, 600_000],
        },
        /** Delay asked for when a batch is nak'd because the database is unavailable. */
        nak_delay_ms: int(0, 3_600_000, 5_000),
        /** Payloads larger than this are dead-lettered as `payload_too_large`. */
        max_payload_bytes: int(256, 8_388_608, 65_536),
        /** The consumer's max_ack_pending; 0 = batch_size × (max_in_flight + 1), one instance's need. */
        max_ack_pending: int(0, 10_000_000, 0),
        /** Limits of a stream the service creates (an existing stream keeps its own); 0 = unlimited. */
        stream_max_age_ms: int(0, 315_360_000_000, 604_800_000),
        stream_max_bytes: int(0, Number.MAX_SAFE_INTEGER, 0),
        stream_max_msg_size: int(0, 67_108_864, 0),
        /** What JetStream drops when stream_max_bytes is reached: the oldest messages, or the new one. */
        stream_discard: { enum: ['old', 'new'], default: 'old' },
        stream_replicas: int(1, 5, 1),
      },
    },
    database: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: 'string', pattern: '^postgres(ql)?://[^\\s]+$', default: 'postgres://root@127.0.0.1:5432/cnc_monitor' },
        /** API queries go here when set (a read replica); '' = database.url. */
        api_url: { type: 'string', pattern: '^(postgres(ql)?://[^\\s]+)?$', default: '' },
        ingest_pool_size: int(1, 32, 2),
        api_pool_size: int(1, 64, 4),
        statement_timeout_ms: int(100, 600_000, 10_000),
        /** Ingest sessions: a lock wait (ledger lock, table lock) fails after this long; 0 = none. */
        ingest_lock_timeout_ms: int(0, 600_000, 5_000),
        /** Ingest sessions: one statement (a batch's COPY) is cancelled after this long; 0 = none. */
        ingest_statement_timeout_ms: int(0, 3_600_000, 60_000),
        /** Ingest sessions: PostgreSQL ends a session idle inside a transaction this long; 0 = none. */
        ingest_idle_in_transaction_timeout_ms: int(0, 3_600_000, 5_000),
      },
    },
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', minLength: 1, default: '127.0.0.1' },
        port: int(0, 65_535, 8081),
        /** Bearer token for /api/* and /metrics; '' = no auth. */
        auth_token: { type: 'string', maxLength: 4096, default: '' },
        /** Allows a non-loopback host without auth_token (otherwise start-up refuses). */
        allow_unauthenticated: { type: 'boolean', default: false },
        /** Without auth_token, requests must name one of these hosts (Host header) or a loopback one; '*' = any. */
        allowed_hosts: {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[^,\\s]+$' },
          maxItems: 64,
          default: [],
        },
        /** WebSocket upgrades from these origins are accepted besides the same origin; '*' = any. */
        allowed_origins: {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 512, pattern: '^(\\*|https?://[^,\\s/]+)$' },
          maxItems: 64,
          default: [],
        },
        /** A request waiting this long for an API database connection answers 503 api_busy. */
        db_wait_ms: int(1, 60_000, 5_000),
        /** While at least two batches wait in the stream, heavy reads run one at a time and hold a connection at most this % of the time; 100 = no limit. */
        backlog_heavy_read_percent: int(1, 100, 25),
        /** Worker threads that encode window pages (/data) as JSON off the event loop; 0 = on it. Default: defaultPageThreads(cores). */
        page_threads: int(0, 16, defaultPageThreads(availableParallelism())),
      },
    },
    ingest: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        batch_size: int(1, 100_000, 5_000),
        linger_ms: int(1, 60_000, 20),
        max_in_flight: int(1, 64, 2),
        /** Parser worker threads; 0 = decode on the ingest thread. Default: defaultParserThreads(cores). */
        parser_threads: int(0, 64, defaultParserThreads(availableParallelism())),
        shutdown_timeout_ms: int(100, 600_000, 20_000),
        /** A batch write still unfinished after this long is aborted (connection destroyed) and nak'd. */
        write_timeout_ms: int(1_000, 3_600_000, 120_000),
        /** Payload bytes one batch may hold (at least nats.max_payload_bytes); a full batch is handed on. */
        max_batch_bytes: int(65_536, 268_435_456, 8_388_608),
        /** Cap of the jittered backoff between attempts to write a held batch. */
        retry_max_backoff_ms: int(100, 60_000, 2_000),
        /** Identical failures of one batch, while a probe write succeeds, before it is bisected. */
        max_write_attempts: int(1, 100, 3),
        /** Not ready when messages wait and no batch has committed for this long. */
        stall_after_ms: int(1_000, 3_600_000, 30_000),
        /** Not ready for 5 s after the event loop was blocked longer than this. */
        max_event_loop_delay_ms: int(50, 600_000, 2_000),
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
        summary_interval_ms: int(0, 3_600_000, 10_000),
        /** `json` (one object per line, for machines) or `pretty` (local times, readable durations, for terminals). */
        format: { enum: ['json', 'pretty'], default: 'json' },
      },
    },
    /** TimescaleDB only (ignored on plain PostgreSQL); intervals like '1 day', '12 hours'. */
    timescale: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** Time span of each new sensor_data chunk. */
        chunk_interval: { ...interval, default: '1 day' },
        /** Compress chunks older than this ('off' = no compression policy). Community licence. */
        compress_after: { ...intervalOrOff, default: '7 days' },
        /** Drop chunks older than this ('off' = keep everything). Community licence. */
        retention: { ...intervalOrOff, default: 'off' },
        /** How often the sensor_data_1m refresh policy runs. */
        cagg_refresh_every: { ...interval, default: '1 minute' },
        /** Newest span the refresh leaves to real-time aggregation (policy end_offset). */
        cagg_refresh_lag: { ...interval, default: '1 minute' },
        /** Oldest span each refresh re-examines for late data (policy start_offset); below `retention`. */
        cagg_refresh_window: { ...interval, default: '3 days' },
      },
    },
    /** The WebSocket live feed at /api/v1/live. */
    live: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        max_clients: int(0, 100_000, 200),
        max_subscriptions_per_client: int(1, 100_000, 1_000),
        /** A client with more unsent bytes than this is disconnected (close code 1008). */
        max_buffered_bytes: int(1_024, 1_073_741_824, 1_048_576),
        /** Readings per machine per second sent to throttled subscriptions, latest wins; 0 = every subscription exact. */
        max_per_machine_per_second: int(0, 1_000, 10),
        /** Oldest cursor a client may resume from ({"since"}, an exact subscription), in seconds; 0 = no resume. */
        resume_max_age_s: int(0, 7 * 86_400, 3_600),
      },
    },
    /** Fleet overview and machine-state utilization. */
    fleet: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** machine_state values that count as running for utilization. */
        running_states: {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[^,\\s]+$' },
          minItems: 1,
          maxItems: 64,
          default: ['RUNNING'],
        },
        /** A machine whose latest reading is older than this is marked stale. */
        stale_after_seconds: int(1, 86_400, 60),
        /** A gap between readings longer than this counts as no data after its first max_gap_seconds. */
        max_gap_seconds: int(1, 2_678_400, 300),
      },
    },
    /** Start-up: how long NATS and PostgreSQL may stay unreachable before the service gives up (exit 2). */
    startup: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** Unreachable dependencies are retried with backoff for this long; 0 = one attempt. */
        wait_ms: int(0, 3_600_000, 60_000),
      },
    },
    /** Plant calendar and plant-floor answers (issue 12): availability by shift, downtime events. */
    plant: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** IANA time zone the shifts are written in, e.g. Europe/Berlin. */
        time_zone: { type: 'string', minLength: 1, maxLength: 64, default: 'UTC' },
        /** Weekly shifts; an end not after the start ends the next day. */
        shifts: {
          type: 'array',
          maxItems: 64,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'start', 'end'],
            properties: { ...shiftProps, days: { type: 'array', items: weekday, minItems: 1, maxItems: 7, uniqueItems: true } },
          },
          default: [{ name: 'day', start: '00:00', end: '24:00' }],
        },
        /** Dates whose shifts replace the weekly ones ([] = no planned time that day). */
        overrides: {
          type: 'array',
          maxItems: 1000,
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['date', 'shifts'],
            properties: {
              date: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' },
              shifts: {
                type: 'array',
                maxItems: 16,
                items: { type: 'object', additionalProperties: false, required: ['name', 'start', 'end'], properties: shiftProps },
              },
            },
          },
        },
        /** A stop shorter than this, ended by running again, is a micro stop. */
        micro_stop_seconds: int(1, 86_400, 120),
        /** Silence after which a machine is offline; 0 = fleet.max_gap_seconds. */
        offline_after_seconds: int(0, 2_678_400, 0),
      },
    },
    /** Threshold alarms on committed readings (issue 12, src/alarms/). */
    alarms: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        rules: {
          type: 'array',
          maxItems: 100,
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'field', 'comparison', 'threshold'],
            properties: {
              name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
              field: { enum: ALARM_FIELDS },
              comparison: { enum: COMPARISONS },
              threshold: { type: 'number' },
              min_duration_seconds: { type: 'number', minimum: 0, maximum: 86_400, default: 0 },
              /** The value must get this far back past the threshold to clear an active alarm. */
              clear_hysteresis: { type: 'number', minimum: 0, default: 0 },
              severity: { enum: SEVERITIES, default: 'warning' },
              /** Machine ids the rule applies to; an entry ending in `*` is a prefix. Absent or empty = every machine. */
              machines: { type: 'array', maxItems: 1000, items: MACHINE_ID_SCHEMA },
            },
          },
        },
        /** Period of the evaluation pass over machines with new readings. */
        interval_ms: int(100, 600_000, 1_000),
        /** Readings are evaluated once this far behind a machine's newest (or once it committed nothing this long). */
        late_margin_ms: int(0, 3_600_000, 5_000),
        /** While a backlog of at least two batches waits in the stream, passes are put off up to this long (0 = never). */
        backlog_defer_ms: int(0, 3_600_000, 30_000),
      },
    },
  },
} as const

/** The configuration as validated (defaults filled in) and frozen by load.ts. */
export type Config = FromSchema<typeof configSchema>

/** One alarm rule as configured (alarms.rules[]). */
export type AlarmRuleConfig = Config['alarms']['rules'][number]

/**
 * Parser threads that measured fastest for the cores present (bench/RESULTS.md): on 2 cores
 * nats-server and PostgreSQL need about one, and a worker only adds its hand-off, so decode in the
 * ingest thread; with more cores a worker takes decoding off that thread.
 */
export function defaultParserThreads (cores: number): number {
  if (cores <= 2) return 0
  return cores < 6 ? 1 : 2
}

/**
 * Page threads (http.page_threads) for the cores present: on 2 cores the window benchmark is CPU-bound
 * (service, PostgreSQL and the clients fill both) and a page worker measured no faster (bench/RESULTS.md,
 * issue 16), so pages are encoded on the event loop; with more cores one worker takes that off it.
 */
export function defaultPageThreads (cores: number): number {
  return cores <= 2 ? 0 : 1
}

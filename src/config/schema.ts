/**
 * The one configuration schema. Defaults live here and nowhere else; `configs/config.yaml`
 * and `CNC_SECTION_KEY` environment variables override them, and ajv validates the result
 * once at boot (see load.ts). Every key is documented in the README's configuration table.
 */
export interface Config {
  readonly nats: {
    readonly url: string
    readonly stream: string
    readonly consumer: string
    /** Redelivery wait for an unacked message; must exceed the worst batch time. */
    readonly ack_wait_ms: number
    readonly max_deliver: number
    /** Redelivery delays after ack_wait expiries (JetStream consumer `backoff`). */
    readonly backoff_ms: readonly number[]
    /** Delay asked for when a batch is nak'd because the database is unavailable. */
    readonly nak_delay_ms: number
    /** Payloads larger than this are dead-lettered as `payload_too_large`. */
    readonly max_payload_bytes: number
  }
  readonly database: {
    readonly url: string
    readonly ingest_pool_size: number
    readonly api_pool_size: number
    readonly statement_timeout_ms: number
  }
  readonly http: {
    readonly host: string
    readonly port: number
  }
  readonly ingest: {
    readonly batch_size: number
    readonly linger_ms: number
    readonly max_in_flight: number
    readonly parser_threads: number
    readonly shutdown_timeout_ms: number
  }
  readonly log: {
    readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
    readonly summary_interval_ms: number
  }
}

const int = (minimum: number, maximum: number, dflt: number) =>
  ({ type: 'integer', minimum, maximum, default: dflt }) as const

/** Stream and consumer names: JetStream forbids spaces, dots, `*`, `>` and path separators. */
const natsName = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } as const

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    nats: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: 'string', pattern: '^(nats|tls|ws|wss)://[^\\s]+$', default: 'nats://127.0.0.1:4222' },
        stream: { ...natsName, default: 'CNC_DATA' },
        consumer: { ...natsName, default: 'PROCESSOR' },
        ack_wait_ms: int(1_000, 3_600_000, 60_000),
        max_deliver: int(2, 1_000, 50),
        backoff_ms: {
          type: 'array',
          items: { type: 'integer', minimum: 1_000, maximum: 86_400_000 },
          maxItems: 50,
          default: [60_000, 120_000, 300_000, 600_000],
        },
        nak_delay_ms: int(0, 3_600_000, 5_000),
        max_payload_bytes: int(256, 8_388_608, 65_536),
      },
    },
    database: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: 'string', pattern: '^postgres(ql)?://[^\\s]+$', default: 'postgres://root@127.0.0.1:5432/cnc_monitor' },
        ingest_pool_size: int(1, 32, 2),
        api_pool_size: int(1, 64, 4),
        statement_timeout_ms: int(100, 600_000, 10_000),
      },
    },
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', minLength: 1, default: '127.0.0.1' },
        port: int(0, 65_535, 8081),
      },
    },
    ingest: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        batch_size: int(1, 100_000, 5_000),
        linger_ms: int(1, 60_000, 50),
        max_in_flight: int(1, 64, 3),
        parser_threads: int(1, 64, 1),
        shutdown_timeout_ms: int(100, 600_000, 20_000),
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
        summary_interval_ms: int(0, 3_600_000, 10_000),
      },
    },
  },
} as const

/**
 * The one pino root logger. Stages log through `child({ stage })`, per batch at most, never per message.
 * `log.format`: `json` (default; one JSON object per line, for machines) or `pretty` (log-pretty.ts).
 */
import { pino, type Logger } from 'pino'
import type { Config } from './config/schema.js'
import { prettyDestination } from './log-pretty.js'

export type { Logger }

export function createLogger (level: Config['log']['level'], format: Config['log']['format'] = 'json'): Logger {
  const options = {
    level,
    base: { service: 'cnc-monitor' },
    redact: { paths: ['*.password', '*.connectionString', 'config.database.url'], censor: '***' },
  }
  return format === 'pretty' ? pino(options, prettyDestination()) : pino(options)
}

/**
 * The one pino root logger. Stages log through `child({ stage })`, per batch at most, never per message.
 */
import { pino, type Logger } from 'pino'
import type { Config } from './config/schema.js'

export type { Logger }

export function createLogger (level: Config['log']['level']): Logger {
  return pino({
    level,
    base: { service: 'cnc-monitor' },
    redact: { paths: ['*.password', '*.connectionString', 'config.database.url'], censor: '***' },
  })
}

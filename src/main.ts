/**
 * Entry point: config → logger → service. SIGTERM/SIGINT drain and exit 0; a second signal aborts.
 * A bad configuration exits 2 with one line naming the key.
 */
import { ConfigError, loadConfig } from './config/load.js'
import type { Config } from './config/schema.js'
import { createLogger } from './log.js'
import { Service } from './service.js'

let config: Config
try {
  config = loadConfig()
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(err.message + '\n')
    process.exit(2)
  }
  throw err
}

const log = createLogger(config.log.level)
const service = new Service(config, log)
let signals = 0

async function shutdown (signal: string): Promise<void> {
  signals++
  if (signals > 1) {
    log.warn({ signal }, 'second signal: aborting without draining')
    process.exit(1)
  }
  log.info({ signal }, 'draining')
  const timer = setTimeout(() => {
    log.error('shutdown deadline passed: aborting')
    process.exit(1)
  }, config.ingest.shutdown_timeout_ms + 5_000)
  timer.unref()
  const clean = await service.close()
  process.exit(clean ? 0 : 1)
}

const onSignal = (signal: string): void => {
  shutdown(signal).catch((err: unknown) => {
    log.fatal({ err }, 'shutdown failed')
    process.exit(1)
  })
}
process.on('SIGTERM', onSignal)
process.on('SIGINT', onSignal)

try {
  await service.start()
} catch (err) {
  log.fatal({ err }, 'start-up failed')
  await service.close().catch(() => {})
  process.exit(1)
}

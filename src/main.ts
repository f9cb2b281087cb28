/**
 * Entry point: arguments → config → logger → process guard → service.
 *
 *   --help / --version        answered before anything connects; exit 0
 *   unknown argument          one line on stderr; exit 2
 *   bad configuration         one line naming the key; exit 2
 *   start-up refused          port taken, NATS/PostgreSQL not reachable within startup.wait_ms,
 *                             bad credentials: one fatal line, no stack; exit 2 (nothing was taken
 *                             in yet, so there is nothing to drain and no "stopped" line)
 *   SIGTERM / SIGINT          drain (commit + ack what is in flight); exit 0, or 1 when work was left
 *                             to redelivery; a second signal aborts (exit 1)
 *   uncaught exception or     one fatal line, then the same drain (nothing is acked before its COMMIT),
 *   unhandled rejection       then exit 1; a second one during that drain exits at once
 */
import { parseCli, usage, version } from './config/cli.js'
import { ConfigError, loadConfig } from './config/load.js'
import type { Config } from './config/schema.js'
import { ServiceError } from './errors.js'
import { createLogger } from './log.js'
import { Service } from './service.js'

const cli = parseCli(process.argv.slice(2))
if (cli.type === 'help') {
  process.stdout.write(usage())
  process.exit(0)
}
if (cli.type === 'version') {
  process.stdout.write(version() + '\n')
  process.exit(0)
}
if (cli.type === 'refuse') {
  process.stderr.write(cli.message + '\n')
  process.exit(2)
}

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

const log = createLogger(config.log.level, config.log.format)
const service = new Service(config, log)
let closing: Promise<boolean> | undefined
const closeOnce = (): Promise<boolean> => (closing ??= service.close())

/** Whatever happens, the process is gone shortly after the drain's own deadline. */
function exitDeadline (): void {
  const timer = setTimeout(() => {
    log.error('shutdown deadline passed: aborting')
    process.exit(1)
  }, config.ingest.shutdown_timeout_ms + 5_000)
  timer.unref()
}

let signals = 0
async function shutdown (signal: string): Promise<void> {
  signals++
  if (signals > 1) {
    log.warn({ signal }, 'second signal: aborting without draining')
    process.exit(1)
  }
  log.info({ signal }, 'draining')
  exitDeadline()
  const clean = await closeOnce()
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

let crashed = false
function crash (kind: string, err: unknown): void {
  if (crashed) {
    log.fatal({ err }, `${kind} while draining after a crash: exiting now`)
    process.exit(1)
  }
  crashed = true
  log.fatal({ err }, `${kind}: draining, then exiting with status 1`)
  exitDeadline()
  closeOnce().then(() => process.exit(1), () => process.exit(1))
}
process.on('uncaughtException', (err) => crash('uncaught exception', err))
process.on('unhandledRejection', (reason) => crash('unhandled rejection', reason))

try {
  await service.start()
} catch (err) {
  if (closing === undefined) {
    if (err instanceof ServiceError && !err.transient) {
      log.fatal({ code: err.code }, err.message)
      process.exit(2)
    }
    log.fatal({ err }, 'start-up failed')
    process.exit(1)
  }
  // A signal or a crash is already closing the service; its own exit follows.
}

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { parseCli, usage } from '../../src/config/cli.js'
import { ConfigError, loadConfig } from '../../src/config/load.js'
import { configSchema, defaultParserThreads } from '../../src/config/schema.js'

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url))

function yamlFile (text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cnc-config-'))
  const file = join(dir, 'config.yaml')
  writeFileSync(file, text)
  return file
}

function refusal (argv: string[], env: Record<string, string>): string {
  try {
    loadConfig(argv, env)
  } catch (err) {
    assert.ok(err instanceof ConfigError)
    assert.ok(!err.message.includes('\n'), 'one line')
    return err.message
  }
  assert.fail('expected a ConfigError')
}

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig(['--config', yamlFile('')], {})
    assert.equal(c.nats.url, 'nats://127.0.0.1:4222')
    assert.equal(c.nats.stream, 'CNC_DATA')
    assert.equal(c.nats.consumer, 'PROCESSOR')
    assert.equal(c.database.url, 'postgres://root@127.0.0.1:5432/cnc_monitor')
    assert.equal(c.http.host, '127.0.0.1')
    assert.equal(c.http.port, 8081)
    assert.equal(c.ingest.batch_size, 5000)
    assert.equal(c.log.format, 'json')
    assert.equal(c.startup.wait_ms, 60_000)
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.nats))
  })

  it('picks parser threads by cores, and a worker for payloads too large to decode on the ingest thread', () => {
    const none = yamlFile('')
    assert.equal(loadConfig(['--config', none], {}).ingest.parser_threads, defaultParserThreads(availableParallelism()))
    assert.equal(defaultParserThreads(2), 0)
    assert.equal(defaultParserThreads(4), 1)
    assert.equal(defaultParserThreads(8), 2)
    const big = { CNC_NATS_MAX_PAYLOAD_BYTES: '4194304' }
    assert.ok(loadConfig(['--config', none], big).ingest.parser_threads >= 1)
    assert.match(refusal(['--config', none], { ...big, CNC_INGEST_PARSER_THREADS: '0' }), /^config: ingest\.parser_threads: 0 \(decode on the ingest thread\) allows payloads up to 1048576 bytes/)
    assert.equal(loadConfig(['--config', none], { CNC_INGEST_PARSER_THREADS: '0' }).ingest.parser_threads, 0)
  })

  it('layers the YAML file, then CNC_SECTION_KEY variables', () => {
    const file = yamlFile('nats:\n  stream: FROM_FILE\ningest:\n  batch_size: 100\n')
    const c = loadConfig([`--config=${file}`], { CNC_INGEST_BATCH_SIZE: '250', CNC_NATS_BACKOFF_MS: '30000,60000', CNC_NATS_ACK_WAIT_MS: '30000', CNC_LOG_LEVEL: 'debug' })
    assert.equal(c.nats.stream, 'FROM_FILE')
    assert.equal(c.ingest.batch_size, 250)
    assert.deepEqual(c.nats.backoff_ms, [30000, 60000])
    assert.equal(c.log.level, 'debug')
  })

  it('refuses a bad value with one line naming the key, the reason and where it came from', () => {
    assert.match(refusal([], { CNC_HTTP_PORT: 'eighty' }), /^config: http\.port: must be integer \(from CNC_HTTP_PORT\)$/)
    assert.match(refusal([], { CNC_INGEST_BATCH_SIZE: '0' }), /^config: ingest\.batch_size: must be >= 1/)
    assert.match(refusal([], { CNC_LOG_LEVEL: 'loud' }), /^config: log\.level: must be one of fatal, error/)
    assert.match(refusal([], { CNC_LOG_FORMAT: 'fancy' }), /^config: log\.format: must be one of json, pretty \(from CNC_LOG_FORMAT\)$/)
    assert.match(refusal([], { CNC_STARTUP_WAIT_MS: '-1' }), /^config: startup\.wait_ms: must be >= 0/)
    assert.match(refusal([], { CNC_NATS_URL: 'http://x' }), /^config: nats\.url: must match pattern/)
    assert.match(refusal([], { CNC_NATS_STREAM: 'a.b' }), /^config: nats\.stream: must match pattern/)
    assert.match(refusal([], { CNC_NATS_BATCH: '5' }), /^config: CNC_NATS_BATCH: not a configuration key/)
    assert.match(refusal(['--config', yamlFile('nats:\n  colour: blue\n')], {}), /^config: nats\.colour: unknown key/)
    assert.match(refusal(['--config', yamlFile('nats: [1, 2\n')], {}), /invalid YAML/)
    assert.match(refusal(['--config', '/nonexistent/cnc.yaml'], {}), /^config: cannot read \/nonexistent\/cnc\.yaml/)
    assert.match(refusal([], { CNC_NATS_ACK_WAIT_MS: '30000' }), /^config: nats\.backoff_ms: first delay \(60000 ms\) must equal nats\.ack_wait_ms/)
  })

  it('takes a comma-separated list of NATS servers (a cluster) and refuses a malformed member', () => {
    const list = 'nats://10.0.0.1:4222,nats://10.0.0.2:4222,tls://nats-3:4222'
    assert.equal(loadConfig([], { CNC_NATS_URL: list }).nats.url, list)
    assert.match(refusal([], { CNC_NATS_URL: 'nats://a:4222, nats://b:4222' }), /^config: nats\.url: must match pattern/)
    assert.match(refusal([], { CNC_NATS_URL: 'nats://a:4222,,nats://b:4222' }), /^config: nats\.url: must match pattern/)
  })

  it('stops the service with exit code 2 and that one line on stderr', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN], { env: { PATH: process.env.PATH ?? '', CNC_HTTP_PORT: '70000' }, encoding: 'utf8', timeout: 30_000 })
    assert.equal(r.status, 2)
    assert.equal(r.stderr.trim(), 'config: http.port: must be <= 65535 (from CNC_HTTP_PORT)')
  })
})

describe('command line', () => {
  it('answers --help and --version, runs with --config, refuses anything else with one line', () => {
    assert.deepEqual(parseCli([]), { type: 'run' })
    assert.deepEqual(parseCli(['--config', 'x.yaml']), { type: 'run' })
    assert.deepEqual(parseCli(['--config=x.yaml']), { type: 'run' })
    assert.deepEqual(parseCli(['--help']), { type: 'help' })
    assert.deepEqual(parseCli(['-h']), { type: 'help' })
    assert.deepEqual(parseCli(['--config', 'x.yaml', '--version']), { type: 'version' })
    assert.deepEqual(parseCli(['-v']), { type: 'version' })
    assert.deepEqual(parseCli(['--verbose']), { type: 'refuse', message: 'cnc-monitor: unknown option "--verbose" (try --help)' })
    assert.deepEqual(parseCli(['start']), { type: 'refuse', message: 'cnc-monitor: unexpected argument "start" (try --help)' })
    assert.deepEqual(parseCli(['--config']), { type: 'refuse', message: 'cnc-monitor: --config needs a file path (try --help)' })
    assert.deepEqual(parseCli(['--config=']), { type: 'refuse', message: 'cnc-monitor: unknown option "--config=" (try --help)' })
  })

  it('the usage text lists every configuration variable', () => {
    const text = usage()
    for (const [section, s] of Object.entries(configSchema.properties)) {
      for (const key of Object.keys(s.properties)) assert.ok(text.includes(`CNC_${section}_${key}`.toUpperCase()), `${section}.${key}`)
    }
  })
})

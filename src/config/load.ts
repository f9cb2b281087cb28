/**
 * Load configuration: schema defaults ← YAML file ← CNC_SECTION_KEY environment variables.
 * Validated once with ajv, then frozen. Nothing else in the service reads process.env.
 * Any problem is a ConfigError whose message is one line naming the key and the reason.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { ErrorCode } from '../errors.js'
import { isLoopbackHost } from '../net/loopback.js'
import { configSchema, type Config } from './schema.js'
import { CalendarError, ShiftCalendar } from '../time/shift-calendar.js'
import { isTimeZone } from '../time/zoned.js'

export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../configs/config.yaml', import.meta.url))

export class ConfigError extends Error {
  readonly code = ErrorCode.configInvalid
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
type Section = Record<string, Json>
interface PropSchema { readonly type?: string }

export function envName (section: string, key: string): string {
  return `CNC_${section}_${key}`.toUpperCase()
}

function configFileFrom (argv: readonly string[]): { file: string, explicit: boolean } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--config') {
      const next = argv[i + 1]
      if (next === undefined || next.startsWith('--')) throw new ConfigError('config: --config needs a file path')
      return { file: next, explicit: true }
    }
    if (a?.startsWith('--config=') === true) return { file: a.slice('--config='.length), explicit: true }
  }
  return { file: DEFAULT_CONFIG_FILE, explicit: false }
}

function readYaml (file: string, explicit: boolean): Record<string, Json> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if (!explicit && (err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new ConfigError(`config: cannot read ${file}: ${(err as Error).message}`)
  }
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`config: ${file}: invalid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config: ${file}: top level must be a mapping of sections`)
  return doc as Record<string, Json>
}

/** Turn an environment string into the type the schema expects; ajv reports what still does not fit. */
function coerce (raw: string, prop: PropSchema): Json {
  const text = raw.trim()
  switch (prop.type) {
    case 'integer':
    case 'number':
      return text !== '' && Number.isFinite(Number(text)) ? Number(text) : raw
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : raw
    case 'array':
      // Arrays of objects (plant.shifts, plant.overrides) come as JSON.
      if (text.startsWith('[')) {
        try { return JSON.parse(text) as Json } catch { return raw }
      }
      return text === '' ? [] : text.split(',').map((part) => coerce(part, { type: 'number' }))
    default:
      return raw
  }
}

function applyEnv (doc: Record<string, Json>, env: NodeJS.ProcessEnv, sources: Map<string, string>): void {
  const known = new Set<string>()
  for (const [section, sectionSchema] of Object.entries(configSchema.properties)) {
    for (const [key, prop] of Object.entries(sectionSchema.properties)) {
      const name = envName(section, key)
      known.add(name)
      const raw = env[name]
      if (raw === undefined) continue
      const current = doc[section]
      const target: Section = typeof current === 'object' && current !== null && !Array.isArray(current) ? current : {}
      target[key] = coerce(raw, prop as PropSchema)
      doc[section] = target
      sources.set(`${section}.${key}`, name)
    }
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('CNC_') && !known.has(name)) {
      throw new ConfigError(`config: ${name}: not a configuration key (see the README's configuration table)`)
    }
  }
}

function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

const validate = new Ajv({ useDefaults: true, allErrors: false, strict: true }).compile(configSchema)

export function loadConfig (argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Config {
  const { file, explicit } = configFileFrom(argv)
  const doc = readYaml(file, explicit)
  const sources = new Map<string, string>()
  applyEnv(doc, env, sources)
  // Whether parser_threads was chosen (file or environment) or is the default: checkRelations derives it then.
  const threadsChosen = (doc.ingest as Record<string, Json> | undefined)?.parser_threads !== undefined
  if (!validate(doc)) {
    const e = validate.errors?.[0]
    const path = (e?.instancePath ?? '').slice(1).replaceAll('/', '.')
    let key = path
    let reason = e?.message ?? 'invalid'
    if (e?.keyword === 'additionalProperties') {
      const extra = String((e.params as { additionalProperty?: string }).additionalProperty)
      key = path === '' ? extra : `${path}.${extra}`
      reason = 'unknown key'
    } else if (e?.keyword === 'enum') {
      reason = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`
    }
    const keyRoot = key.split('.').slice(0, 2).join('.')
    const from = sources.get(keyRoot) ?? file
    throw new ConfigError(`config: ${key || '(root)'}: ${reason} (from ${from})`)
  }
  const config = doc as unknown as Config
  checkRelations(config, sources, file, threadsChosen)
  return deepFreeze(config)
}

/** Largest nats.max_payload_bytes decoded on the ingest thread (ingest.parser_threads 0). */
const IN_THREAD_MAX_PAYLOAD = 1_048_576

/** Rules that span keys, which the schema cannot say. */
function checkRelations (c: Config, sources: Map<string, string>, file: string, threadsChosen: boolean): void {
  const fail = (key: string, reason: string): never => {
    throw new ConfigError(`config: ${key}: ${reason} (from ${sources.get(key) ?? file})`)
  }
  const first = c.nats.backoff_ms[0]
  if (first !== undefined && first !== c.nats.ack_wait_ms) {
    fail('nats.backoff_ms', `first delay (${first} ms) must equal nats.ack_wait_ms (${c.nats.ack_wait_ms} ms): JetStream uses it as the ack wait`)
  }
  if (c.nats.max_deliver <= c.nats.backoff_ms.length) {
    fail('nats.max_deliver', `must be greater than the number of nats.backoff_ms delays (${c.nats.backoff_ms.length})`)
  }
  // Decoding on the ingest thread has no worker heap bound around it: a hostile payload near 8 MB takes
  // ~115 MB of heap to parse (parse/parser-pool.ts). Past 1 MiB the default becomes one worker.
  if (c.ingest.parser_threads === 0 && c.nats.max_payload_bytes > IN_THREAD_MAX_PAYLOAD) {
    if (threadsChosen) {
      fail('ingest.parser_threads', `0 (decode on the ingest thread) allows payloads up to ${IN_THREAD_MAX_PAYLOAD} bytes; nats.max_payload_bytes is ${c.nats.max_payload_bytes}: use 1 or more`)
    }
    (c.ingest as { parser_threads: number }).parser_threads = 1
  }
  const ruleNames = c.alarms.rules.map((r) => r.name)
  const twice = ruleNames.find((n, i) => ruleNames.indexOf(n) !== i)
  if (twice !== undefined) fail('alarms.rules', `two rules are named ${JSON.stringify(twice)}; a rule's name identifies its episodes and must be unique`)
  if (!isTimeZone(c.plant.time_zone)) fail('plant.time_zone', `${JSON.stringify(c.plant.time_zone)} is not a time zone this Node knows (IANA names, e.g. Europe/Berlin)`)
  try {
    new ShiftCalendar(c.plant) // eslint-disable-line no-new
  } catch (err) {
    if (!(err instanceof CalendarError)) throw err
    throw new ConfigError(`config: ${err.key}: ${err.message} (from ${sources.get(err.key.split('.').slice(0, 2).join('.')) ?? file})`)
  }
  if (c.http.auth_token === '' && !c.http.allow_unauthenticated && !isLoopbackHost(c.http.host)) {
    fail('http.host', `${c.http.host} is not a loopback address: set http.auth_token, or http.allow_unauthenticated: true to serve without auth`)
  }
}

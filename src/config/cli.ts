/**
 * Command-line arguments, decided before anything connects: `--help`, `--version`, `--config FILE`.
 * Anything else is refused with one line (main.ts exits 2), so a typo never starts a service that
 * joins the production consumer. The usage text lists every CNC_* variable from the one schema.
 */
import { readFileSync } from 'node:fs'
import { DEFAULT_CONFIG_FILE, envName } from './load.js'
import { configSchema } from './schema.js'

export type CliAction =
  | { readonly type: 'run' }
  | { readonly type: 'help' }
  | { readonly type: 'version' }
  | { readonly type: 'refuse', readonly message: string }

export function parseCli (argv: readonly string[]): CliAction {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? ''
    if (a === '--help' || a === '-h') return { type: 'help' }
    if (a === '--version' || a === '-v') return { type: 'version' }
    if (a === '--config') {
      const file = argv[i + 1]
      if (file === undefined || file.startsWith('-')) return { type: 'refuse', message: 'cnc-monitor: --config needs a file path (try --help)' }
      i++
      continue
    }
    if (a.startsWith('--config=') && a.length > '--config='.length) continue
    const what = a.startsWith('-') ? 'unknown option' : 'unexpected argument'
    return { type: 'refuse', message: `cnc-monitor: ${what} ${JSON.stringify(a)} (try --help)` }
  }
  return { type: 'run' }
}

export function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
  return `cnc-monitor ${pkg.version ?? 'unknown'} (node ${process.versions.node})`
}

function shown (v: unknown): string {
  if (Array.isArray(v)) return v.join(',')
  return v === '' ? "''" : String(v)
}

export function usage (): string {
  const lines = [
    'Usage: cnc-monitor [--config FILE]',
    '',
    'Takes CNC telemetry off NATS JetStream into PostgreSQL/TimescaleDB and serves the HTTP API.',
    '',
    'Options:',
    `  --config FILE, --config=FILE  YAML configuration (default ${DEFAULT_CONFIG_FILE}; a missing default file is fine)`,
    '  -h, --help                    print this text and exit',
    '  -v, --version                 print the version and exit',
    '',
    'Environment (overrides the file; defaults in brackets; the README\'s configuration table explains each):',
  ]
  for (const [section, s] of Object.entries(configSchema.properties)) {
    for (const [key, prop] of Object.entries(s.properties)) {
      const dflt = 'default' in prop ? ` [${shown(prop.default)}]` : ''
      lines.push(`  ${envName(section, key)}${dflt}`)
    }
  }
  lines.push('', 'Exit status: 0 stopped cleanly; 1 stopped with work left to redelivery, or a crash; 2 bad arguments or',
    'configuration, HTTP port taken, NATS or PostgreSQL not reachable within startup.wait_ms.')
  return lines.join('\n') + '\n'
}

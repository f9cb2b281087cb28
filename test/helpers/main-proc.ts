/**
 * `node --import tsx src/main.ts` as a child process (no build needed), with only the CNC_* variables
 * given and an empty config file, so the test decides every setting. Output lines are kept.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from './test-env.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export function emptyConfigFile (): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cnc-main-')), 'config.yaml')
  writeFileSync(file, '')
  return file
}

const live = new Set<ChildProcess>()
process.once('exit', () => { for (const c of live) c.kill('SIGKILL') })

export class MainProc {
  readonly proc: ChildProcess
  readonly stdout: string[] = []
  readonly stderr: string[] = []
  /** Resolves with the exit code once the process is gone and its output read. */
  readonly exit: Promise<number | null>

  /**
   * `args` go to main.ts; `preload` modules are imported before it (after tsx). `entry`: another
   * entry point (e.g. a scratch tree's dist/main.js), run with that tree's root as cwd.
   */
  constructor (args: readonly string[], env: Record<string, string>, preload: readonly string[] = [], entry?: { root: string, file: string }) {
    const base: Record<string, string> = {}
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CNC_') && v !== undefined) base[k] = v
    const imports = ['tsx', ...preload].flatMap((m) => ['--import', m])
    const root = entry?.root ?? ROOT
    this.proc = spawn(process.execPath, [...imports, join(root, entry?.file ?? 'src/main.ts'), ...args], { cwd: root, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(this.proc)
    this.exit = new Promise((resolve) => this.proc.once('close', (code) => { live.delete(this.proc); resolve(code) }))
    collect(this.proc.stdout, this.stdout)
    collect(this.proc.stderr, this.stderr)
  }

  /** The stdout lines parsed as pino JSON records (every line must be one). */
  records (): Array<Record<string, unknown>> {
    return this.stdout.map((l) => JSON.parse(l) as Record<string, unknown>)
  }

  /** The HTTP port from the "http server listening" record, once logged. */
  async port (timeoutMs = 60_000): Promise<number> {
    let port = 0
    await waitFor('the service to listen', () => {
      if (this.proc.exitCode !== null) throw new Error(`exited ${this.proc.exitCode}: ${this.output()}`)
      const rec = this.records().find((r) => r.msg === 'http server listening')
      port = Number(rec?.port ?? 0)
      return port > 0
    }, timeoutMs, 50)
    return port
  }

  async waitReady (timeoutMs = 60_000): Promise<number> {
    const port = await this.port(timeoutMs)
    await waitFor('/readyz 200', async () => {
      if (this.proc.exitCode !== null) throw new Error(`exited ${this.proc.exitCode}: ${this.output()}`)
      try {
        return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3_000) })).status === 200
      } catch {
        return false
      }
    }, timeoutMs, 100)
    return port
  }

  output (): string {
    return [...this.stdout.slice(-30), ...this.stderr.slice(-10)].join('\n')
  }

  kill (signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal)
  }
}

function collect (stream: NodeJS.ReadableStream | null, into: string[]): void {
  let rest = ''
  stream?.setEncoding('utf8')
  stream?.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n')
    rest = parts.pop() ?? ''
    into.push(...parts)
  })
  stream?.on('end', () => { if (rest !== '') into.push(rest) })
}

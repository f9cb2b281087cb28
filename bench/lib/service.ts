/**
 * The service under test, as users run it: `node dist/main.js` in a child process, configured only by
 * CNC_* variables. Its HTTP port (CNC_HTTP_PORT=0) is read from the "http server listening" log line.
 * PERF_SERVICE_ROOT picks another checkout's dist/ (default: this one); PERF_CPU_PROF=<dir> adds
 * `node --cpu-prof` so each run leaves .cpuprofile files for bench/profile-summary.ts; PERF_CONFIG=<file>
 * starts it with `--config <file>` (e.g. bench/alarms-10-rules.yaml, the alarm cost of issue 12).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SERVICE_ROOT = process.env.PERF_SERVICE_ROOT ?? REPO_ROOT

const OWN = /^CNC_(NATS_URL|NATS_STREAM|NATS_CONSUMER|DATABASE_URL|HTTP_|LOG_)/

export interface RunningService {
  readonly pid: number
  readonly port: number
  /** Value of a counter or gauge (summed over labels) from /metrics. */
  metric (name: string): Promise<number>
  /** SIGTERM and wait for exit; resolves the exit code. */
  stop (): Promise<number | null>
}

export async function startService (cncEnv: Record<string, string>, label = 'service'): Promise<RunningService> {
  const main = `${SERVICE_ROOT.replace(/\/$/, '')}/dist/main.js`
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (make perf does)`)
  const env: Record<string, string> = {}
  // Tuning variables given to `make perf` (e.g. CNC_INGEST_PARSER_THREADS=2) reach the service; where it
  // connects and what it is called are the bench's to set.
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && (!k.startsWith('CNC_') || !OWN.test(k))) env[k] = v
  Object.assign(env, { CNC_HTTP_PORT: '0', CNC_LOG_SUMMARY_INTERVAL_MS: '0', CNC_LOG_LEVEL: 'info' }, cncEnv)
  const args: string[] = []
  const profDir = process.env.PERF_CPU_PROF
  if (profDir !== undefined && profDir !== '') args.push('--cpu-prof', '--cpu-prof-dir', profDir)
  const configFile = process.env.PERF_CONFIG
  const serviceArgs = configFile !== undefined && configFile !== '' ? ['--config', configFile] : []
  const child: ChildProcess = spawn(process.execPath, [...args, main, ...serviceArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr: string[] = []
  child.stderr?.on('data', (d: Buffer) => { stderr.push(d.toString()); if (stderr.length > 50) stderr.shift() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    const timer = setTimeout(() => reject(new Error(`${label}: no "http server listening" line within 30 s`)), 30_000)
    lines.on('line', (line) => {
      if (process.env.PERF_SERVICE_LOG === '1') process.stderr.write(`[${label}] ${line}\n`)
      if (!line.includes('"http server listening"')) {
        if (line.includes('"level":50') || line.includes('"level":60')) process.stderr.write(`[${label}] ${line}\n`)
        return
      }
      clearTimeout(timer)
      resolve(Number((JSON.parse(line) as { port: number }).port))
    })
    exited.then((code) => { clearTimeout(timer); reject(new Error(`${label} exited with ${code} before listening: ${stderr.join('')}`)) }).catch(() => {})
  })
  const pid = child.pid as number
  return {
    pid,
    port,
    async metric (name) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      let sum = 0
      for (const line of text.split('\n')) {
        if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
      }
      return sum
    },
    async stop () {
      if (child.exitCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}

/**
 * Issue 16's window load, one copy for bench/api-vs-seed.ts and bench/phases/isolation.ts: the readings it
 * reads (200,000 of one machine at 10 Hz, inserted directly), the wrk Lua that asks for a different
 * 10,000-row window each request, and wrk itself (Debian's package, .ci/tools.sh installs it).
 *
 * A run either lasts its `-d` seconds (`done`), or is ended early with SIGINT (`finish()`): wrk then stops
 * its threads and prints the same summary over the time it actually ran (req/s and percentiles over
 * every request it completed), so a load can span an interval the caller only learns at its end.
 */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const WINDOW_MACHINE = 'CNC-BENCH-01'
export const WINDOW_READINGS = 200_000
/** Data starts here; reading k is at WINDOW_BASE_S + k × 0.1 s. */
export const WINDOW_BASE_S = Date.UTC(2025, 6, 13) / 1000
/** A window of 10,000 readings: [s, s + 999.9 s], both bounds inclusive in both servers. */
export const WINDOW_TENTHS = 9_999

/** Inserts the readings the windows read, then VACUUM ANALYZE (the service must have migrated the database). */
export async function insertWindowReadings (query: (sql: string) => Promise<unknown>): Promise<void> {
  await query(`INSERT INTO sensor_data (time, machine_id, temperature, spindle_speed, x_pos_mm, y_pos_mm, z_pos_mm,
      feed_rate_actual, spindle_load_percent, machine_state, active_program_line, total_power_kw)
    SELECT to_timestamp(${WINDOW_BASE_S}) + g * interval '100 ms', '${WINDOW_MACHINE}', round((40 + 5 * sin(g / 50.0))::numeric, 2),
      12000 + (g % 50) * 20, round((g % 10000) / 7.0, 3), round((g % 7000) / 9.0, 3), -round((g % 3000) / 11.0, 3),
      500 + g % 100, round((30 + 20 * cos(g / 80.0))::numeric, 1), CASE WHEN g % 1000 < 900 THEN 'RUNNING' ELSE 'IDLE' END,
      g % 5000, round((5 + (g % 40) / 10.0)::numeric, 2)
    FROM generate_series(0, ${WINDOW_READINGS - 1}) g`)
  await query('VACUUM ANALYZE sensor_data')
}

/** Writes wrk's Lua into `dir`: every request a different 10,000-row window, start on the data's 0.1 s grid. */
export function windowsScript (dir: string): string {
  const file = join(dir, 'windows.lua')
  writeFileSync(file, `
local base = ${WINDOW_BASE_S}
local span = ${WINDOW_READINGS - WINDOW_TENTHS - 1}
local function iso (tenths)
  local s = base + math.floor(tenths / 10)
  return os.date("!%Y-%m-%dT%H:%M:%S", s) .. "." .. (tenths % 10) .. "Z"
end
function setup (thread) thread:set("seed", math.random(1, 1000000)) end
function init () math.randomseed(seed + os.time()) end
function request ()
  local t = math.random(0, span)
  return wrk.format("GET", "/api/v1/machines/${WINDOW_MACHINE}/data?start_time=" .. iso(t) .. "&end_time=" .. iso(t + ${WINDOW_TENTHS}) .. "&limit=10000")
end
`)
  return file
}

export interface WrkResult {
  readonly rps: number
  readonly p50ms: number
  readonly p99ms: number
  /** Non-2xx/3xx answers plus socket errors (connect, read, write, timeout). */
  readonly errors: number
  readonly requests: number
  /** How long wrk ran, by its own clock. */
  readonly seconds: number
}

export interface WrkRun {
  /** Settles when wrk exits, by its `-d` or after finish(). */
  readonly done: Promise<WrkResult>
  /** Ends the run now (SIGINT) and resolves its summary. */
  finish (): Promise<WrkResult>
}

const unitMs = (v: string, unit: string): number => Number(v) * (unit === 'us' ? 1e-3 : unit === 's' ? 1e3 : unit === 'm' ? 6e4 : 1)

function parse (out: string): WrkResult {
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out)
    return m === null ? NaN : unitMs(m[1] as string, m[2] as string)
  }
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) +
    (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)?.slice(1).reduce((s, x) => s + Number(x), 0) ?? 0)
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(out)
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50ms: pct('50'),
    p99ms: pct('99'),
    errors,
    requests: Number(total?.[1] ?? NaN),
    seconds: total === null ? NaN : unitMs(total[2] as string, total[3] as string) / 1000,
  }
}

/** Starts wrk against `url` with `connections` connections (2 threads at most) for at most `seconds`. */
export function startWrk (url: string, connections: number, seconds: number, script?: string): WrkRun {
  const args = ['-t', String(Math.min(2, connections)), '-c', String(connections), '-d', `${seconds}s`, '--latency', '--timeout', '10s']
  if (script !== undefined) args.push('-s', script)
  const child = spawn('wrk', [...args, url], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const done = new Promise<WrkResult>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code === 0) resolve(parse(out))
      else reject(new Error(`wrk exited with ${code}: ${out}`))
    })
  })
  // A failure is the awaiter's to report; until someone awaits, it must not end the process as unhandled.
  done.catch(() => {})
  return {
    done,
    finish () {
      if (child.exitCode === null) child.kill('SIGINT')
      return done
    },
  }
}

/** One wrk run of `seconds`. */
export function wrk (url: string, connections: number, seconds: number, script?: string): Promise<WrkResult> {
  return startWrk(url, connections, seconds, script).done
}

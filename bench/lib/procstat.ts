/**
 * Linux /proc readings for the benchmarks: CPU time of a process (all its threads, so the service's
 * Piscina workers count), CPU time of every process with a given name (postgres backends), and peak RSS.
 */
import { readdirSync, readFileSync } from 'node:fs'

const TICKS_PER_SECOND = 100 // USER_HZ on every Linux build we run on

/** utime + stime of a process in seconds, or 0 when it is gone. */
export function cpuSeconds (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return 0
  }
}

export function pidsNamed (comm: string): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) out.push(Number(entry))
    } catch { /* exited meanwhile */ }
  }
  return out
}

/** CPU seconds per pid for every process named `comm` (a process that appears later counts from 0). */
export function cpuByName (comm: string): Map<number, number> {
  const m = new Map<number, number>()
  for (const pid of pidsNamed(comm)) m.set(pid, cpuSeconds(pid))
  return m
}

export function cpuDelta (before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0
  for (const [pid, s] of after) sum += s - (before.get(pid) ?? 0)
  return sum
}

/** VmHWM (peak resident set) and VmRSS of a process, in MB. */
export function memoryMb (pid: number): { peak: number, now: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0)
    return { peak: kb('VmHWM') / 1024, now: kb('VmRSS') / 1024 }
  } catch {
    return { peak: 0, now: 0 }
  }
}

/** Busy CPU seconds of the whole machine (all cores) from /proc/stat: everything but idle and iowait. */
export function machineBusySeconds (): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f
  return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND
}

export interface CpuShares { service: number, nats: number, postgres: number, other: number }

/** One interval of a CpuSplit: how long it was, and what each party used in it. */
export interface CpuUse {
  readonly wallSeconds: number
  /** Average cores busy over the interval. */
  readonly cores: CpuShares
  /** CPU seconds used over the interval. */
  readonly seconds: CpuShares
}

/** CPU µs per unit of work (a message, a reading) for each party; `other` is the rest of the machine. */
export function microsPer (use: CpuUse, units: number): CpuShares {
  const f = 1e6 / Math.max(1, units)
  return { service: use.seconds.service * f, nats: use.seconds.nats * f, postgres: use.seconds.postgres * f, other: use.seconds.other * f }
}

/** A CPU meter over one interval for the service, nats-server and postgres (all processes of each). */
export class CpuSplit {
  readonly #servicePid: number
  #t0 = 0
  #svc0 = 0
  #nats0 = new Map<number, number>()
  #pg0 = new Map<number, number>()
  #all0 = 0

  constructor (servicePid: number) { this.#servicePid = servicePid }

  start (): void {
    this.#t0 = performance.now()
    this.#svc0 = cpuSeconds(this.#servicePid)
    this.#nats0 = cpuByName('nats-server')
    this.#pg0 = cpuByName('postgres')
    this.#all0 = machineBusySeconds()
  }

  /**
   * CPU used by each since start(); `other` is the rest of the machine (the bench itself and anything
   * else running), which on a shared box says how contended the measurement was. Reading /proc costs
   * nothing the parties pay for: it happens only at start() and stop().
   */
  stop (): CpuUse {
    const wall = (performance.now() - this.#t0) / 1000
    const service = cpuSeconds(this.#servicePid) - this.#svc0
    const nats = cpuDelta(this.#nats0, cpuByName('nats-server'))
    const postgres = cpuDelta(this.#pg0, cpuByName('postgres'))
    const all = machineBusySeconds() - this.#all0
    const seconds = { service, nats, postgres, other: Math.max(0, all - service - nats - postgres) }
    const cores = { service: service / wall, nats: nats / wall, postgres: postgres / wall, other: seconds.other / wall }
    return { wallSeconds: wall, cores, seconds }
  }
}

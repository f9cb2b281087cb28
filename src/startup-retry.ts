/**
 * Start-up waits for its dependencies: under compose or systemd, NATS and PostgreSQL often come up
 * after us. One attempt after another with doubling delays (250 ms … 5 s), one warn line per failed
 * attempt, until startup.wait_ms after the dependency's first attempt; then a permanent
 * ServiceError whose message is the one line main.ts prints before exit 2.
 *
 * Only failures that can heal by waiting are retried (refused, reset, timed out, DNS not yet
 * resolvable, the server still starting); anything else (bad credentials, a missing permission)
 * fails at once. An attempt that hangs is abandoned after ATTEMPT_TIMEOUT_MS (or at the deadline);
 * should it still succeed later, its result is handed to `discard` so no connection leaks.
 */
import type { Logger } from 'pino'
import { ServiceError, type ErrorCode } from './errors.js'
import { sqlstateOf } from './db/sqlstate.js'

const FIRST_DELAY_MS = 250
const MAX_DELAY_MS = 5_000
const ATTEMPT_TIMEOUT_MS = 10_000
const MIN_ATTEMPT_MS = 2_000

export interface Dependency<T> {
  /** What is waited for, as an operator calls it: "NATS", "PostgreSQL". */
  readonly name: string
  /** Where (a URL without password). */
  readonly target: string
  readonly code: ErrorCode
  readonly connect: () => Promise<T>
  readonly retryable: (err: unknown) => boolean
  readonly discard?: (late: T) => void
  /** An attempt without an answer after this long is abandoned (default 10 s). */
  readonly attemptTimeoutMs?: number
}

const TIMED_OUT = Symbol('attempt timed out')

function firstLine (err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  return msg.split('\n')[0] ?? msg
}

/** A system error code (ECONNREFUSED, ENOTFOUND, EAI_AGAIN, …): the network, not the request. */
export function isSystemError (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^E[A-Z_]+$/.test(code)
}

/** NATS: refused, reset, timed out or not resolvable yet; not an authorization or option error. */
export function natsRetryable (err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name
  return name === 'ConnectionError' || name === 'TimeoutError' || isSystemError(err)
}

/**
 * PostgreSQL: a socket error (no SQLSTATE), class 08 (connection exception), 57P03 (the server is
 * starting up or in recovery), 53300 (too many connections). Not 28 (credentials) or 42 (permission).
 */
export function pgRetryable (err: unknown): boolean {
  const state = sqlstateOf(err)
  return state === undefined || state.startsWith('08') || state === '57P03' || state === '53300'
}

/** Resolves with the first successful connect; gives up `waitMs` after the first attempt began. */
export async function waitForDependency<T> (dep: Dependency<T>, waitMs: number, log: Logger): Promise<T> {
  const deadline = Date.now() + waitMs
  let delay = FIRST_DELAY_MS
  for (let attempt = 1; ; attempt++) {
    let timer: NodeJS.Timeout | undefined
    const pending = dep.connect()
    // Near (or past, with startup.wait_ms 0) the deadline an attempt still gets MIN_ATTEMPT_MS.
    const limit = Math.min(dep.attemptTimeoutMs ?? ATTEMPT_TIMEOUT_MS, Math.max(MIN_ATTEMPT_MS, deadline - Date.now()))
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => { timer = setTimeout(resolve, limit, TIMED_OUT) })
    let err: unknown
    try {
      const result = await Promise.race([pending, timeout])
      if (result !== TIMED_OUT) return result
      err = new Error(`no answer within ${limit} ms`)
      pending.then((late) => dep.discard?.(late), () => {})
    } catch (e) {
      err = e
      if (!dep.retryable(e)) {
        throw new ServiceError(dep.code, `${dep.name} at ${dep.target}: ${firstLine(e)}`, { cause: e })
      }
    } finally {
      clearTimeout(timer)
    }
    const left = deadline - Date.now()
    if (left <= 0) {
      throw new ServiceError(dep.code,
        `${dep.name} not reachable at ${dep.target} after ${attempt} attempt${attempt === 1 ? '' : 's'} (startup.wait_ms): ${firstLine(err)}`,
        { cause: err })
    }
    const wait = Math.min(delay, left)
    log.warn({ attempt, retry_in_ms: wait, err: firstLine(err) },
      `${dep.name} not reachable at ${dep.target} (${firstLine(err)}): retrying in ${wait} ms`)
    await new Promise((resolve) => setTimeout(resolve, wait))
    delay = Math.min(delay * 2, MAX_DELAY_MS)
  }
}

/**
 * The one way tests run a Service in-process: on a TestEnv's stream, consumer and database, with
 * CNC_* overrides on top of the environment's own.
 *
 *   withService(t, overrides, body)   start → body(service) → close, close guaranteed
 *   startService(t, overrides)        start only, for a suite that closes in its after() hook
 *
 * Invariant: a Service whose start() fails is closed before the error is rethrown, so a failed
 * start never leaves an HTTP port, a NATS connection or a pool open behind the test.
 */
import { Service } from '../../src/service.js'
import { silentLog, type TestEnv } from './test-env.js'

export type ServiceOverrides = Readonly<Record<string, string>>

/** A started Service on `t` with `overrides` (CNC_* variables). */
export async function startService (t: TestEnv, overrides: ServiceOverrides = {}): Promise<Service> {
  const service = new Service(t.config({ ...overrides }), silentLog)
  try {
    await service.start()
  } catch (err) {
    await service.close().catch(() => {})
    throw err
  }
  return service
}

/** Runs `body` with a started Service and closes the service afterwards, whether body passed or threw. */
export async function withService<R> (t: TestEnv, overrides: ServiceOverrides, body: (service: Service) => Promise<R>): Promise<R> {
  const service = await startService(t, overrides)
  try {
    return await body(service)
  } finally {
    await service.close()
  }
}

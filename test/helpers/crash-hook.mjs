/**
 * Preloaded (`--import`) into a service child process by the process-guard test: SIGUSR2 makes the main
 * thread throw an uncaught exception (CRASH_KIND=exception) or leave a rejected promise unhandled
 * (CRASH_KIND=rejection), as a bug in a callback would. Plain JavaScript: parser workers inherit the
 * preload and load it without tsx.
 */
import { isMainThread } from 'node:worker_threads'

if (isMainThread) {
  process.on('SIGUSR2', () => {
    if (process.env.CRASH_KIND === 'rejection') {
      // Created and never awaited or caught: what an unhandled rejection is.
      const rejected = Promise.reject(new Error('injected rejection'))
      setImmediate(() => rejected)
    } else {
      setImmediate(() => { throw new Error('injected exception') })
    }
  })
}

/**
 * Loads uWebSockets.js's native binary directly. The package would silently fall back to a slow
 * `ws`-based implementation when the binary does not load; we refuse to start instead.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type * as Uws from 'uWebSockets.js'
import { ErrorCode, ServiceError } from '../errors.js'

export type { Uws }

export function loadNativeUws (): typeof Uws {
  const require = createRequire(import.meta.url)
  const pkgDir = dirname(require.resolve('uWebSockets.js/package.json'))
  const binary = join(pkgDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`)
  try {
    return require(binary) as typeof Uws
  } catch (err) {
    throw new ServiceError(ErrorCode.uwsFallback,
      `uWebSockets.js native binary did not load (${binary}: ${(err as Error).message.split('\n')[0]}); ` +
      'this build needs Node 20 on x86_64/arm64 Linux with glibc — refusing to run on the slow fallback',
      { cause: err })
  }
}

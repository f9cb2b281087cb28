/**
 * Optional bearer-token auth (http.auth_token; empty = off). Tokens are compared as SHA-256
 * digests with timingSafeEqual: equal lengths always, so neither the length nor the first
 * differing byte of the configured token leaks through response timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto'

const PREFIX = /^Bearer[ \t]+/i

export type TokenCheck = (authorizationHeader: string) => boolean

export function tokenCheck (token: string): TokenCheck | null {
  if (token === '') return null
  const expected = createHash('sha256').update(token).digest()
  return (header) => {
    const m = PREFIX.exec(header)
    const given = m === null ? '' : header.slice(m[0].length).trim()
    const digest = createHash('sha256').update(given).digest()
    // Evaluate both: a missing token still pays for one comparison.
    return timingSafeEqual(digest, expected) && m !== null
  }
}

/** Loopback binds need no token: only this host can reach them (the rule lives in net/loopback.ts). */
export { isLoopbackHost } from '../net/loopback.js'

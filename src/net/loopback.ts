/**
 * Is a host name one only this machine reaches? A neutral helper: config/ (a non-loopback bind needs
 * http.auth_token) and api/ (Host header guard, edge.ts) both ask it.
 */

/** localhost, 127.0.0.0/8, ::1 (bracketed or not) and ::ffff:127.0.0.1; case-insensitive. */
export function isLoopbackHost (host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '')
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1'
}

/**
 * Checks at the edge against DNS rebinding and cross-site WebSocket reads.
 *
 * Host (REST and the WebSocket upgrade, only while http.auth_token is empty): a page on
 * evil.example whose name is re-pointed at 127.0.0.1 reaches this server as same-origin, but its
 * requests still say `Host: evil.example`. Accepted: loopback names (localhost, 127.x, ::1),
 * http.host itself, and http.allowed_hosts ('*' = any); the port is not compared. A request without
 * Host (HTTP/1.0 tools) is accepted: browsers always send one.
 *
 * Origin (the WebSocket upgrade, always): browsers do not apply CORS to WebSockets, so any page
 * the operator opens could read the feed. Accepted: no Origin (not a browser), the same origin
 * (Origin's host:port equals Host), and http.allowed_origins (scheme://host[:port], '*' = any).
 */
import { isLoopbackHost } from '../net/loopback.js'

export type HostCheck = (hostHeader: string) => boolean
export type OriginCheck = (originHeader: string, hostHeader: string) => boolean

/** The name part of a Host header value, lower case: `[::1]:8081` → `::1`, `a.b:80` → `a.b`. */
export function hostName (host: string): string {
  const h = host.trim().toLowerCase()
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    return end < 0 ? h : h.slice(1, end)
  }
  const colon = h.indexOf(':')
  // More than one colon: a bare IPv6 address (not valid in Host, but harmless to compare whole).
  const name = colon >= 0 && h.indexOf(':', colon + 1) < 0 ? h.slice(0, colon) : h
  return name.endsWith('.') ? name.slice(0, -1) : name
}

/** null when the token is set (a rebinding page cannot know it) or '*' is allowed. */
export function hostCheck (authToken: string, listenHost: string, allowedHosts: readonly string[]): HostCheck | null {
  if (authToken !== '' || allowedHosts.includes('*')) return null
  const allowed = new Set(allowedHosts.map(hostName))
  const listen = hostName(listenHost.includes(':') && !listenHost.startsWith('[') ? `[${listenHost}]` : listenHost)
  // A wildcard bind names no host a client would send.
  if (listen !== '0.0.0.0' && listen !== '::') allowed.add(listen)
  return (header) => {
    if (header === '') return true
    const name = hostName(header)
    return isLoopbackHost(name) || allowed.has(name)
  }
}

export function originCheck (allowedOrigins: readonly string[]): OriginCheck {
  const any = allowedOrigins.includes('*')
  const allowed = new Set(allowedOrigins.map((o) => o.toLowerCase()))
  return (origin, host) => {
    if (origin === '' || any) return true
    const o = origin.trim().toLowerCase()
    if (allowed.has(o)) return true
    const m = /^https?:\/\/([^/]+)$/.exec(o)
    return m !== null && host !== '' && m[1] === host.trim().toLowerCase()
  }
}

/**
 * HTTP instruments, registered on the service's registry. Routes are labelled by pattern
 * (`/api/v1/machines/:id/data`), never by raw URL, so label cardinality stays bounded.
 */
import { Counter, Histogram, type Registry } from 'prom-client'

export function createHttpMetrics (registry: Registry) {
  const registers = [registry]
  return {
    requests: new Counter({
      name: 'cnc_http_requests_total',
      help: 'HTTP requests by route pattern, method and status (status "aborted": the client left first)',
      labelNames: ['route', 'method', 'status'] as const,
      registers,
    }),
    duration: new Histogram({
      name: 'cnc_http_request_duration_seconds',
      help: 'Time from the request to the end of its response, by route pattern and method',
      labelNames: ['route', 'method'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    refused: new Counter({
      name: 'cnc_http_refused_total',
      help: 'Requests refused at the edge, by reason: body_too_large, range_too_large, unauthorized, host (http.allowed_hosts), api_busy (no database connection within http.db_wait_ms)',
      labelNames: ['reason'] as const,
      registers,
    }),
  }
}

export type HttpMetrics = ReturnType<typeof createHttpMetrics>

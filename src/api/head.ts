/**
 * HEAD for every GET route: the GET handler runs unchanged against a response whose body is
 * counted, not sent. uWS's endWithoutBody(length) then writes the status and headers the GET would
 * have sent, with the Content-Length of the body it would have sent (RFC 9110 §9.3.2).
 * A streamed body is serialized and counted chunk by chunk (memory as for GET), never held whole.
 */
import type { Uws } from './uws.js'

export function headResponse (res: Uws.HttpResponse): Uws.HttpResponse {
  let length = 0
  const write = (chunk: Uws.RecognizedString): boolean => {
    length += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength
    return true
  }
  const end = (body?: Uws.RecognizedString, closeConnection?: boolean): Uws.HttpResponse => {
    if (body !== undefined) write(body)
    return res.endWithoutBody(length, closeConnection)
  }
  return new Proxy(res, {
    get (target, prop) {
      if (prop === 'write') return write
      if (prop === 'end') return end
      const v: unknown = Reflect.get(target, prop)
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}

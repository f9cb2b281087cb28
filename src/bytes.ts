/**
 * Bytes as a Buffer without copying them. A Buffer moved between threads arrives as a plain
 * Uint8Array, and NATS hands payloads over as Uint8Array: where Buffer's methods (toString with an
 * encoding, write, copy) are needed, view the same memory as a Buffer.
 */
export function asBuffer (bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * One binary COPY value each (PostgreSQL's binary format: an int32 length, then the bytes; -1 for
 * NULL). The generated encoder (generated/encode-fields.ts) writes a tuple's fields as one call per
 * field; these small functions are inlined by V8 on the per-message path. Each returns the next position.
 */
export function nullValue (b: Buffer, p: number): number {
  return b.writeInt32BE(-1, p)
}

export function float8 (b: Buffer, p: number, v: number): number {
  b.writeInt32BE(8, p)
  return b.writeDoubleBE(v, p + 4)
}

export function int4 (b: Buffer, p: number, v: number): number {
  b.writeInt32BE(4, p)
  return b.writeInt32BE(v, p + 4)
}

export function text (b: Buffer, p: number, v: string): number {
  const n = b.write(v, p + 4, 'utf8')
  b.writeInt32BE(n, p)
  return p + 4 + n
}

/**
 * `log.format: pretty`: one readable line per pino record, for a terminal.
 *
 *   2026-11-30 14:03:12.345 INFO  [ingest] created durable consumer stream=CNC_DATA ack_wait_ms=1 min
 *
 * Local time to the millisecond instead of epoch milliseconds; durations (keys ending in `_ms`/`Ms`)
 * as ms, s or min; `err` as its type, code and first message line. Each record stays one line:
 * a stack, when logged, is reduced to its first frame (the JSON format keeps it whole).
 * Runs in-process on pino's synchronous write path: a terminal does not need the worker-thread
 * transport, and a fatal line is out before process.exit.
 */
const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' }
/** Fields every record carries that say nothing to someone reading a terminal. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service', 'stage'])

const pad = (n: number, w = 2): string => String(n).padStart(w, '0')

export function localTime (epochMs: number): string {
  const d = new Date(epochMs)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}

/** 850 → "850 ms", 1500 → "1.5 s", 60000 → "1 min", 90000 → "90 s". */
export function duration (ms: number): string {
  if (!Number.isFinite(ms)) return String(ms)
  if (Math.abs(ms) < 1_000) return `${Math.round(ms * 1000) / 1000} ms`
  if (ms % 60_000 === 0) return `${ms / 60_000} min`
  return `${Math.round(ms) / 1000} s`
}

const isDurationKey = (key: string): boolean => key.endsWith('_ms') || key.endsWith('Ms')

function errText (err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err)
  const e = err as { type?: unknown, code?: unknown, message?: unknown, stack?: unknown }
  const message = typeof e.message === 'string' ? e.message.split('\n')[0] : JSON.stringify(err)
  const head = [typeof e.type === 'string' && e.type !== 'Error' ? e.type : '', typeof e.code === 'string' ? `[${e.code}]` : '']
    .filter((s) => s !== '').join(' ')
  const frame = typeof e.stack === 'string' ? e.stack.split('\n').find((l) => l.trimStart().startsWith('at '))?.trim() : undefined
  return (head === '' ? '' : head + ': ') + message + (frame === undefined ? '' : ` (${frame})`)
}

function value (key: string, v: unknown): string {
  if (key === 'err' || key === 'error') return JSON.stringify(errText(v))
  if (typeof v === 'number' && isDurationKey(key)) return duration(v)
  if (Array.isArray(v) && isDurationKey(key) && v.every((x) => typeof x === 'number')) return `[${v.map((x) => duration(x as number)).join(', ')}]`
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)
  return JSON.stringify(v) ?? String(v)
}

/** Formats one JSON log record (a line pino wrote); anything unparseable passes through unchanged. */
export function prettyLine (json: string): string {
  let rec: Record<string, unknown>
  try {
    rec = JSON.parse(json) as Record<string, unknown>
  } catch {
    return json.endsWith('\n') ? json : json + '\n'
  }
  const time = typeof rec.time === 'number' ? localTime(rec.time) : ''
  const level = LEVELS[rec.level as number] ?? String(rec.level)
  const stage = typeof rec.stage === 'string' ? ` [${rec.stage}]` : ''
  let line = `${time} ${level}${stage} ${typeof rec.msg === 'string' ? rec.msg : ''}`
  for (const [k, v] of Object.entries(rec)) {
    if (!HIDDEN.has(k) && v !== undefined) line += ` ${k}=${value(k, v)}`
  }
  return line + '\n'
}

/** A pino destination that writes pretty lines to `out` (process.stdout: synchronous for files, pipes and terminals on Linux). */
export function prettyDestination (out: { write (s: string): unknown } = process.stdout): { write (s: string): void } {
  return {
    write (chunk: string): void {
      // pino writes one record per call; split anyway in case a caller batches.
      for (const rec of chunk.split('\n')) if (rec !== '') out.write(prettyLine(rec))
    },
  }
}

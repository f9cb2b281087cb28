/**
 * The original design's SensorData and Machine structs (seed document, "Data Models") as a client
 * built on them sees our answers: each JSON body is decoded the way Go's encoding/json would
 * decode it into those structs, and refused where Go would fail, plus stricter checks of our own
 * contract (every field present, no other field). Go's rules kept here:
 *   string     JSON string, or null (left as "")
 *   float64    JSON number, or null (left 0)
 *   int        an integer literal within int64 (Go refuses 42.0 and 1e3), or null (left 0)
 *   time.Time  a string time.Parse(time.RFC3339) accepts (upper-case T and Z, fraction up to 9
 *              digits), or null (left as the zero time)
 */
import assert from 'node:assert/strict'

type GoKind = 'string' | 'float64' | 'int' | 'time'

/** json tag → (Go field, kind), in struct order. */
const SENSOR_DATA = [
  ['machine_id', 'MachineID', 'string'], ['temperature', 'Temperature', 'float64'], ['spindle_speed', 'SpindleSpeed', 'float64'],
  ['timestamp', 'Timestamp', 'time'], ['x_pos_mm', 'XPosMM', 'float64'], ['y_pos_mm', 'YPosMM', 'float64'], ['z_pos_mm', 'ZPosMM', 'float64'],
  ['feed_rate_actual', 'FeedRateActual', 'float64'], ['spindle_load_percent', 'SpindleLoadPercent', 'float64'],
  ['machine_state', 'MachineState', 'string'], ['active_program_line', 'ActiveProgramLine', 'int'], ['total_power_kw', 'TotalPowerKW', 'float64'],
] as const satisfies ReadonlyArray<readonly [string, string, GoKind]>

const MACHINE = [
  ['id', 'ID', 'string'], ['name', 'Name', 'string'], ['location', 'Location', 'string'], ['controller_type', 'ControllerType', 'string'],
  ['max_spindle_speed_rpm', 'MaxSpindleSpeedRPM', 'int'], ['axis_count', 'AxisCount', 'int'], ['created_at', 'CreatedAt', 'time'],
  ['last_updated', 'LastUpdated', 'time'],
] as const satisfies ReadonlyArray<readonly [string, string, GoKind]>

type GoValue<K extends GoKind> = K extends 'string' | 'time' ? string : number
type Struct<S extends ReadonlyArray<readonly [string, string, GoKind]>> = { [F in S[number] as F[1]]: GoValue<F[2]> }
export type SensorData = Struct<typeof SENSOR_DATA>
export type Machine = Struct<typeof MACHINE>

export const GO_ZERO_TIME = '0001-01-01T00:00:00Z'
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))$/

function goTime (v: string, where: string): string {
  const m = RFC3339.exec(v)
  assert.ok(m !== null, `${where}: ${JSON.stringify(v)} is not RFC 3339 as Go's time.Parse reads it`)
  const [, y, mo, d, h, mi, s, oh, om] = m.map(Number) as number[]
  const days = new Date(Date.UTC(y as number, mo as number, 0)).getUTCDate()
  assert.ok((mo as number) >= 1 && (mo as number) <= 12 && (d as number) >= 1 && (d as number) <= days, `${where}: no such date ${v}`)
  assert.ok((h as number) < 24 && (mi as number) < 60 && (s as number) < 60, `${where}: no such time ${v}`)
  if (!Number.isNaN(oh)) assert.ok((oh as number) < 24 && (om as number) < 60, `${where}: bad offset ${v}`)
  return v
}

/** Raw integer literals of `names` in the body text: Go's int decoding reads the literal, not a float. */
function intLiterals (text: string, names: readonly string[]): void {
  for (const name of names) {
    for (const m of text.matchAll(new RegExp(`"${name}":\\s*([^,}\\]\\s]+)`, 'g'))) {
      const lit = m[1] as string
      assert.ok(lit === 'null' || (/^-?(?:0|[1-9]\d*)$/.test(lit) && BigInt(lit) >= -(2n ** 63n) && BigInt(lit) < 2n ** 63n),
        `${name}: ${lit} does not decode into a Go int`)
    }
  }
}

function decodeStruct<S extends ReadonlyArray<readonly [string, string, GoKind]>> (fields: S, v: unknown, where: string): Struct<S> {
  assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v), `${where}: a JSON object`)
  const obj = v as Record<string, unknown>
  assert.deepEqual(Object.keys(obj).sort(), fields.map((f) => f[0]).sort(), `${where}: exactly the original struct's fields`)
  const out: Record<string, string | number> = {}
  for (const [tag, name, kind] of fields) {
    const x = obj[tag]
    const at = `${where}.${tag}`
    if (x === null) { out[name] = kind === 'string' ? '' : kind === 'time' ? GO_ZERO_TIME : 0; continue }
    if (kind === 'string') { assert.equal(typeof x, 'string', `${at}: Go string`); out[name] = x as string }
    if (kind === 'float64') { assert.equal(typeof x, 'number', `${at}: Go float64`); out[name] = x as number }
    if (kind === 'int') { assert.ok(Number.isSafeInteger(x), `${at}: Go int`); out[name] = x as number }
    if (kind === 'time') { assert.equal(typeof x, 'string', `${at}: Go time.Time`); out[name] = goTime(x as string, at) }
  }
  return out as Struct<S>
}

/** `json.Unmarshal(body, &[]SensorData{})`, strictly. */
export function decodeSensorDataList (text: string): SensorData[] {
  intLiterals(text, ['active_program_line'])
  const v: unknown = JSON.parse(text)
  assert.ok(Array.isArray(v), `[]SensorData needs a JSON array, got ${text.slice(0, 80)}`)
  return v.map((x, i) => decodeStruct(SENSOR_DATA, x, `[${i}]`))
}

/** `json.Unmarshal(body, &Machine{})`, strictly. */
export function decodeMachine (text: string): Machine {
  intLiterals(text, ['max_spindle_speed_rpm', 'axis_count'])
  return decodeStruct(MACHINE, JSON.parse(text), 'Machine')
}

/** `json.Unmarshal(body, &[]Machine{})`, strictly. */
export function decodeMachineList (text: string): Machine[] {
  intLiterals(text, ['max_spindle_speed_rpm', 'axis_count'])
  const v: unknown = JSON.parse(text)
  assert.ok(Array.isArray(v), '[]Machine needs a JSON array')
  return v.map((x, i) => decodeStruct(MACHINE, x, `[${i}]`))
}

/** time.Time's MarshalJSON: RFC3339Nano, trailing zeros of the fraction dropped. */
export function goTimeJson (unixMs: number, extraNanos = 0): string {
  const iso = new Date(unixMs).toISOString()
  const nanos = String((unixMs % 1000) * 1_000_000 + extraNanos).padStart(9, '0').replace(/0+$/, '')
  return iso.slice(0, 19) + (nanos === '' ? '' : '.' + nanos) + 'Z'
}

/** json.Marshal of a SensorData as the original publishers send it: every field, struct order, Go's float text. */
export function goMarshalSensorData (d: SensorData): string {
  const f = (x: number): string => Number.isInteger(x) && Math.abs(x) < 1e21 ? x.toFixed(0) : String(x)
  return `{"machine_id":${JSON.stringify(d.MachineID)},"temperature":${f(d.Temperature)},"spindle_speed":${f(d.SpindleSpeed)},` +
    `"timestamp":"${d.Timestamp}","x_pos_mm":${f(d.XPosMM)},"y_pos_mm":${f(d.YPosMM)},"z_pos_mm":${f(d.ZPosMM)},` +
    `"feed_rate_actual":${f(d.FeedRateActual)},"spindle_load_percent":${f(d.SpindleLoadPercent)},` +
    `"machine_state":${JSON.stringify(d.MachineState)},"active_program_line":${d.ActiveProgramLine},"total_power_kw":${f(d.TotalPowerKW)}}`
}

/** json.Marshal of a Machine as an original client posts it (zero values included). */
export function goMarshalMachine (m: Machine): string {
  return `{"id":${JSON.stringify(m.ID)},"name":${JSON.stringify(m.Name)},"location":${JSON.stringify(m.Location)},` +
    `"controller_type":${JSON.stringify(m.ControllerType)},"max_spindle_speed_rpm":${m.MaxSpindleSpeedRPM},"axis_count":${m.AxisCount},` +
    `"created_at":"${m.CreatedAt}","last_updated":"${m.LastUpdated}"}`
}

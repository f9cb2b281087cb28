/**
 * The shift calendar and zoned wall time (src/time/): daylight-saving gaps and folds, midnight-spanning
 * shifts, breaks, per-date overrides, and the configuration errors naming their key.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { loadConfig } from '../../src/config/load.js'
import { ShiftCalendar, type PlantCalendarConfig } from '../../src/time/shift-calendar.js'
import { isoDateToDay, localDay, wallToInstant } from '../../src/time/zoned.js'

const day = (iso: string): number => isoDateToDay(iso) as number
const iso = (ms: number): string => new Date(ms).toISOString()
const hours = (o: { planned: ReadonlyArray<readonly [number, number]> }): number => o.planned.reduce((t, [a, b]) => t + b - a, 0) / 3_600_000
const cal = (c: Partial<PlantCalendarConfig>): ShiftCalendar => new ShiftCalendar({ time_zone: 'Europe/Berlin', shifts: [], overrides: [], ...c })

describe('zoned wall time', () => {
  it('a wall time in the spring-forward gap moves forward by the gap; a repeated one takes the earlier instant', () => {
    assert.equal(iso(wallToInstant('Europe/Berlin', day('2025-03-30'), 150)), '2025-03-30T01:30:00.000Z')
    assert.equal(iso(wallToInstant('Europe/Berlin', day('2025-10-26'), 150)), '2025-10-26T00:30:00.000Z')
    assert.equal(iso(wallToInstant('America/New_York', day('2025-03-09'), 150)), '2025-03-09T07:30:00.000Z')
    assert.equal(iso(wallToInstant('Europe/Berlin', day('2025-07-01'), 24 * 60 + 30)), '2025-07-01T22:30:00.000Z')
    assert.equal(localDay('Europe/Berlin', Date.parse('2025-03-29T23:30:00Z')), day('2025-03-30'))
    assert.equal(iso(wallToInstant('UTC', day('2025-03-30'), 150)), '2025-03-30T02:30:00.000Z')
  })
})

describe('shift calendar', () => {
  it('an all-day shift lasts 23 h and 25 h on the change days', () => {
    const c = cal({ shifts: [{ name: 'day', start: '00:00', end: '24:00' }] })
    const occ = c.occurrences(Date.parse('2025-03-29T23:00:00Z'), Date.parse('2025-03-30T22:00:00Z'))
    assert.deepEqual(occ.map((o) => [o.name, hours(o)]), [['day', 23]])
    const fall = c.occurrences(Date.parse('2025-10-25T22:00:00Z'), Date.parse('2025-10-26T23:00:00Z'))
    assert.deepEqual(fall.map(hours), [25])
  })

  it('a night shift spans midnight, belongs to its start date, and keeps its wall hours (break in the gap)', () => {
    const c = cal({ shifts: [{ name: 'night', days: ['sat'], start: '22:00', end: '06:00', breaks: [{ start: '02:00', end: '02:30' }] }] })
    const [o, ...rest] = c.occurrences(Date.parse('2025-03-29T00:00:00Z'), Date.parse('2025-03-31T00:00:00Z'))
    assert.equal(rest.length, 0)
    assert.ok(o !== undefined)
    assert.equal(o.day, day('2025-03-29'))
    assert.deepEqual(o.planned.map(([a, b]) => [iso(a), iso(b)]), [
      ['2025-03-29T21:00:00.000Z', '2025-03-30T01:00:00.000Z'], ['2025-03-30T01:30:00.000Z', '2025-03-30T04:00:00.000Z'],
    ])
    const fall = c.occurrences(Date.parse('2025-10-25T00:00:00Z'), Date.parse('2025-10-27T00:00:00Z'))
    assert.deepEqual(fall.map(hours), [8.5]) // 9 h, minus the first 02:00–02:30
  })

  it('weekdays and overrides: an override replaces the date; [] means no planned time', () => {
    const c = cal({
      shifts: [{ name: 'early', days: ['mon', 'tue'], start: '06:00', end: '14:00' }],
      overrides: [{ date: '2025-12-22', shifts: [{ name: 'short', start: '06:00', end: '10:00' }] }, { date: '2025-12-23', shifts: [] }],
    })
    const occ = c.occurrences(Date.parse('2025-12-21T00:00:00Z'), Date.parse('2025-12-31T00:00:00Z'))
    assert.deepEqual(occ.map((o) => [new Date(o.startMs).toISOString().slice(0, 10), o.name, hours(o)]),
      [['2025-12-22', 'short', 4], ['2025-12-29', 'early', 8], ['2025-12-30', 'early', 8]])
  })

  it('a shift overlapping the one before it is cut so no instant is planned twice', () => {
    const c = cal({ shifts: [{ name: 'a', start: '06:00', end: '14:00' }], overrides: [{ date: '2025-05-02', shifts: [{ name: 'long', start: '00:00', end: '04:00' }, { name: 'b', start: '04:00', end: '23:00' }] }] })
    const occ = c.occurrences(Date.parse('2025-05-01T00:00:00Z'), Date.parse('2025-05-03T00:00:00Z'))
    for (let i = 1; i < occ.length; i++) assert.ok((occ[i]?.planned[0]?.[0] ?? 0) >= (occ[i - 1]?.endMs ?? 0))
  })
})

describe('plant configuration', () => {
  const load = (env: Record<string, string>) => () => loadConfig([], env)
  it('accepts shifts as JSON in the environment', () => {
    const c = loadConfig([], { CNC_PLANT_TIME_ZONE: 'America/New_York', CNC_PLANT_SHIFTS: '[{"name":"a","days":["mon"],"start":"08:00","end":"16:00"}]' })
    assert.equal(c.plant.shifts[0]?.name, 'a')
    assert.deepEqual(c.plant.shifts[0]?.breaks, [])
    assert.equal(loadConfig([], {}).plant.shifts[0]?.end, '24:00')
  })
  it('refuses a bad zone, overlapping shifts, a break outside its shift, a date that does not exist — naming the key', () => {
    assert.throws(load({ CNC_PLANT_TIME_ZONE: 'Mars/Olympus' }), /^Error: config: plant\.time_zone: "Mars\/Olympus" is not a time zone/)
    assert.throws(load({ CNC_PLANT_SHIFTS: '[{"name":"a","start":"06:00","end":"14:00"},{"name":"b","days":["tue"],"start":"13:00","end":"22:00"}]' }),
      /config: plant\.shifts: shifts overlap: a \(tue\) and b \(tue\)/)
    assert.throws(load({ CNC_PLANT_SHIFTS: '[{"name":"n","days":["sun"],"start":"22:00","end":"06:00"},{"name":"m","days":["mon"],"start":"05:00","end":"07:00"}]' }),
      /shifts overlap: n \(sun\) and m \(mon\)/)
    assert.throws(load({ CNC_PLANT_SHIFTS: '[{"name":"a","start":"06:00","end":"14:00","breaks":[{"start":"13:30","end":"14:30"}]}]' }),
      /config: plant\.shifts\.0\.breaks\.0: 13:30–14:30 is not inside the shift 06:00–14:00/)
    assert.throws(load({ CNC_PLANT_OVERRIDES: '[{"date":"2025-02-30","shifts":[]}]' }), /config: plant\.overrides\.0\.date: must be a date/)
    assert.throws(load({ CNC_PLANT_SHIFTS: '[{"name":"a","start":"25:00","end":"14:00"}]' }), /config: plant\.shifts\.0\.start: must match pattern/)
  })
})

/**
 * Hand-computed availability fixtures (plant in Europe/Berlin), shared by the PostgreSQL and the
 * TimescaleDB (PGlite) tests. fleet.max_gap_seconds = 3600, running = RUNNING, micro stop < 120 s.
 *
 * Shifts, every day: early 06:00–14:00 (break 10:00–10:30), night 22:00–06:00 (break 00:00–00:30).
 *
 * Spring forward, night of Sat 2025-03-29 (02:00 CET → 03:00 CEST at 01:00Z): 21:00Z → 04:00Z = 7 h,
 * break 23:00Z–23:30Z, planned 6.5 h = 23,400 s. Machine M-DST (UTC):
 *   20:50 IDLE · 21:30 RUN · 22:00 IDLE · 22:01 RUN · 23:10 IDLE · 23:40 RUN · 00:20 RUN · 01:10 RUN
 *   (gap > 1 h: RUN to 02:10, no data to 03:30) · 03:30 RUN · 03:50 ALARM · 04:10 RUN (last until October)
 *   in planned time: stopped 21:00–21:30 1800 + 22:00–22:01 60 + 23:30–23:40 600 + 03:50–04:00 600 = 3060
 *                    running 1800 + 3540 (22:01–23:00) + 9000 (23:40–02:10) + 1200 = 15540; no data 4800
 *   micro stops: 22:00–22:01 (60 s, then running) → 1 × 60 s
 * Fall back, night of Sat 2025-10-25 (03:00 CEST → 02:00 CET at 01:00Z): 20:00Z → 05:00Z = 9 h,
 * break 22:00Z–22:30Z, planned 8.5 h = 30,600 s. Machine M-DST:
 *   19:55 RUN · 20:30 IDLE · 20:31:30 RUN · 21:30 · 22:15 · 23:10 · 00:05 · 00:59 · 01:30 RUN · 02:20 SETUP
 *   · 02:25 RUN · 03:20 · 04:15 RUN · 05:10 IDLE
 *   stopped 90 + 300 = 390, running 30,210, no data 0; micro stops: 20:30–20:31:30 → 1 × 90 s
 * Machine M-2: one reading 2025-03-29T21:00Z RUNNING (running to 22:00Z, then no data).
 */
export const PLANT_ENV: Record<string, string> = {
  CNC_PLANT_TIME_ZONE: 'Europe/Berlin',
  CNC_PLANT_SHIFTS: JSON.stringify([
    { name: 'early', start: '06:00', end: '14:00', breaks: [{ start: '10:00', end: '10:30' }] },
    { name: 'night', start: '22:00', end: '06:00', breaks: [{ start: '00:00', end: '00:30' }] },
  ]),
  CNC_PLANT_MICRO_STOP_SECONDS: '120',
  CNC_FLEET_MAX_GAP_SECONDS: '3600',
  CNC_FLEET_RUNNING_STATES: 'RUNNING',
}

const R = 'RUNNING'
const spring: Array<[string, string]> = [
  ['2025-03-29T20:50:00Z', 'IDLE'], ['2025-03-29T21:30:00Z', R], ['2025-03-29T22:00:00Z', 'IDLE'], ['2025-03-29T22:01:00Z', R],
  ['2025-03-29T23:10:00Z', 'IDLE'], ['2025-03-29T23:40:00Z', R], ['2025-03-30T00:20:00Z', R], ['2025-03-30T01:10:00Z', R],
  ['2025-03-30T03:30:00Z', R], ['2025-03-30T03:50:00Z', 'ALARM'], ['2025-03-30T04:10:00Z', R],
]
const autumn: Array<[string, string]> = [
  ['2025-10-25T19:55:00Z', R], ['2025-10-25T20:30:00Z', 'IDLE'], ['2025-10-25T20:31:30Z', R], ['2025-10-25T21:30:00Z', R],
  ['2025-10-25T22:15:00Z', R], ['2025-10-25T23:10:00Z', R], ['2025-10-26T00:05:00Z', R], ['2025-10-26T00:59:00Z', R],
  ['2025-10-26T01:30:00Z', R], ['2025-10-26T02:20:00Z', 'SETUP'], ['2025-10-26T02:25:00Z', R], ['2025-10-26T03:20:00Z', R],
  ['2025-10-26T04:15:00Z', R], ['2025-10-26T05:10:00Z', 'IDLE'],
]

/** [time, machine_id, machine_state] */
export const PLANT_READINGS: Array<[string, string, string]> = [
  ...spring.map(([t, s]): [string, string, string] => [t, 'M-DST', s]),
  ...autumn.map(([t, s]): [string, string, string] => [t, 'M-DST', s]),
  ['2025-03-29T21:00:00Z', 'M-2', R],
]

export interface Expected {
  planned_seconds: number
  running_seconds: number
  stopped_seconds: number
  no_data_seconds: number
  availability: number | null
  micro_stops: { count: number, seconds: number }
}

export const SPRING_NIGHT: Expected = {
  planned_seconds: 23_400, running_seconds: 15_540, stopped_seconds: 3_060, no_data_seconds: 4_800, availability: 0.664103, micro_stops: { count: 1, seconds: 60 },
}
export const AUTUMN_NIGHT: Expected = {
  planned_seconds: 30_600, running_seconds: 30_210, stopped_seconds: 390, no_data_seconds: 0, availability: 0.987255, micro_stops: { count: 1, seconds: 90 },
}
/**
 * group=day over local 2025-03-29 00:00 CET → 2025-03-31 00:00 CEST (2025-03-28T23:00Z → 2025-03-30T22:00Z):
 * 03-28 = its night shift's part inside the window (23:30Z–05:00Z after the break, no data: 19,800); 03-29 = early (05:00Z–13:00Z, no data: 27,000) + the spring night; 03-30 = early (04:00Z–12:00Z, break
 * 08:00Z–08:30Z: ALARM to 04:10 = 600 stopped, RUN to 05:10 = 3,600, no data 22,800) + night to the window end
 * (20:00Z–22:00Z, no data 7,200).
 */
export const SPRING_DAYS: Array<Expected & { date: string }> = [
  { date: '2025-03-28', planned_seconds: 19_800, running_seconds: 0, stopped_seconds: 0, no_data_seconds: 19_800, availability: 0, micro_stops: { count: 0, seconds: 0 } },
  { date: '2025-03-29', planned_seconds: 50_400, running_seconds: 15_540, stopped_seconds: 3_060, no_data_seconds: 31_800, availability: 0.308333, micro_stops: { count: 1, seconds: 60 } },
  { date: '2025-03-30', planned_seconds: 34_200, running_seconds: 3_600, stopped_seconds: 600, no_data_seconds: 30_000, availability: 0.105263, micro_stops: { count: 0, seconds: 0 } },
]

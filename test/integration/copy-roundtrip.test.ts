import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { COPY_COLUMNS, COPY_HEADER, COPY_TRAILER } from '../../src/parse/copy-encoder.js'
import { decodeBatch } from '../../src/parse/decode-batch.js'
import { json, pack, reading } from '../helpers/payloads.js'
import { PG_ADMIN_URL } from '../helpers/test-env.js'

// Binary COPY encoding, checked by loading it into PostgreSQL and reading every column back.
describe('binary COPY encoding', () => {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL })
  before(async () => {
    await client.connect()
    await client.query(`CREATE TEMP TABLE sensor_data (time TIMESTAMPTZ NOT NULL, machine_id TEXT NOT NULL,
      temperature DOUBLE PRECISION NOT NULL, spindle_speed DOUBLE PRECISION NOT NULL, x_pos_mm DOUBLE PRECISION,
      y_pos_mm DOUBLE PRECISION, z_pos_mm DOUBLE PRECISION, feed_rate_actual DOUBLE PRECISION,
      spindle_load_percent DOUBLE PRECISION, machine_state TEXT, active_program_line INTEGER, total_power_kw DOUBLE PRECISION)`)
  })
  after(() => client.end())

  it('round-trips every field, NULLs, unicode and extreme timestamps', async () => {
    const payloads = [
      json(reading('CNC-001', 7)),
      json({ machine_id: 'Fräse-äöü-😀', timestamp: '2025-07-13T10:00:00.123456+02:00', temperature: -0.5, spindle_speed: 1e300 }),
      json({ machine_id: 'OLD', timestamp: '0001-01-01T00:00:00Z', temperature: 0, spindle_speed: 0, active_program_line: -2147483648 }),
      json({ machine_id: 'FAR', timestamp: '9999-12-31T23:59:59.999999Z', temperature: 5e-324, spindle_speed: -1, active_program_line: 2147483647 }),
    ]
    const parsed = decodeBatch(pack(payloads))
    assert.equal(parsed.rejections.length, 0)
    await new Promise<void>((resolve, reject) => {
      const s = client.query(copyFrom(`COPY sensor_data (${COPY_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`))
      s.on('error', reject).on('finish', resolve)
      s.write(COPY_HEADER); s.write(parsed.copy); s.end(COPY_TRAILER)
    })
    const rows = (await client.query(`SELECT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS t, machine_id, temperature,
      spindle_speed, x_pos_mm, y_pos_mm, z_pos_mm, feed_rate_actual, spindle_load_percent, machine_state, active_program_line, total_power_kw
      FROM sensor_data ORDER BY time`)).rows
    assert.deepEqual(rows[0], { t: '0001-01-01T00:00:00.000000', machine_id: 'OLD', temperature: 0, spindle_speed: 0, x_pos_mm: null, y_pos_mm: null, z_pos_mm: null, feed_rate_actual: null, spindle_load_percent: null, machine_state: null, active_program_line: -2147483648, total_power_kw: null })
    assert.deepEqual(rows[1], { t: '2025-07-13T08:00:00.123456', machine_id: 'Fräse-äöü-😀', temperature: -0.5, spindle_speed: 1e300, x_pos_mm: null, y_pos_mm: null, z_pos_mm: null, feed_rate_actual: null, spindle_load_percent: null, machine_state: null, active_program_line: null, total_power_kw: null })
    assert.deepEqual(rows[2], { t: '2025-07-13T10:00:00.700000', machine_id: 'CNC-001', temperature: 40.7, spindle_speed: 1207, x_pos_mm: 7, y_pos_mm: -7, z_pos_mm: 0.5, feed_rate_actual: 500, spindle_load_percent: 42.5, machine_state: 'RUNNING', active_program_line: 7, total_power_kw: 7.25 })
    assert.deepEqual(rows[3], { t: '9999-12-31T23:59:59.999999', machine_id: 'FAR', temperature: 5e-324, spindle_speed: -1, x_pos_mm: null, y_pos_mm: null, z_pos_mm: null, feed_rate_actual: null, spindle_load_percent: null, machine_state: null, active_program_line: 2147483647, total_power_kw: null })
  })
})

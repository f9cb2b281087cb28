/** Read/write SQL of the machines registry (table machines). Named, parameterized statements. */
import type pg from 'pg'

export interface MachineRow {
  id: string
  name: string
  location: string
  controller_type: string | null
  max_spindle_speed_rpm: number | null
  axis_count: number | null
  created_at: string
  last_updated: string
}

export interface NewMachine {
  readonly id: string
  readonly name: string
  readonly location: string
  readonly controller_type?: string | null
  readonly max_spindle_speed_rpm?: number | null
  readonly axis_count?: number | null
}

/** RFC 3339 in UTC with microseconds, formatted by PostgreSQL (a JS Date would drop the µs). */
export const isoUtc = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

const COLUMNS = `id, name, location, controller_type, max_spindle_speed_rpm, axis_count,
  ${isoUtc('created_at')} AS created_at, ${isoUtc('last_updated')} AS last_updated`

export async function listMachines (db: pg.Pool): Promise<MachineRow[]> {
  return (await db.query<MachineRow>({ name: 'machines-list', text: `SELECT ${COLUMNS} FROM machines ORDER BY id` })).rows
}

/** Inserts; undefined when the id already exists (the caller answers 409). */
export async function insertMachine (db: pg.Pool, m: NewMachine): Promise<MachineRow | undefined> {
  const r = await db.query<MachineRow>({
    name: 'machines-insert',
    text: `INSERT INTO machines (id, name, location, controller_type, max_spindle_speed_rpm, axis_count)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
    values: [m.id, m.name, m.location, m.controller_type ?? null, m.max_spindle_speed_rpm ?? null, m.axis_count ?? null],
  })
  return r.rows[0]
}

/**
 * Tells every instance's registry listener (store/registry-listener.ts) that the table changed.
 * Sent after the insert committed, so a listener that reloads sees the new row.
 */
export async function notifyMachines (db: pg.Pool, channel: string, id: string): Promise<void> {
  await db.query({ name: 'machines-notify', text: 'SELECT pg_notify($1, $2)', values: [channel, id] })
}

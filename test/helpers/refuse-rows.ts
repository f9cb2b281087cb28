/**
 * A BEFORE INSERT trigger on sensor_data that makes PostgreSQL refuse chosen rows with chosen
 * SQLSTATEs, for the tests of batch bisection and dead-lettering (`refuse_bad`, one per database).
 */

/** Refuses every row of machine CNC-BAD with XX000 (an internal error, outside classes 22/23). */
export const REFUSE_CNC_BAD = "IF NEW.machine_id = 'CNC-BAD' THEN RAISE EXCEPTION 'simulated internal error' USING ERRCODE = 'XX000'; END IF;"

/** Installs the trigger; `rules` are PL/pgSQL statements run for each row before `RETURN NEW`. */
export async function refuseRows (query: (sql: string) => Promise<unknown>, rules = REFUSE_CNC_BAD): Promise<void> {
  await query(`CREATE FUNCTION refuse_bad () RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      ${rules}
      RETURN NEW;
    END $$`)
  await query('CREATE TRIGGER refuse_bad BEFORE INSERT ON sensor_data FOR EACH ROW EXECUTE FUNCTION refuse_bad()')
}

/** Removes the trigger (the function stays; refuseRows is then not called again on this database). */
export async function stopRefusing (query: (sql: string) => Promise<unknown>): Promise<void> {
  await query('DROP TRIGGER refuse_bad ON sensor_data')
}

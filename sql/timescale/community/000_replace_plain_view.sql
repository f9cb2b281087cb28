-- A database that ran on plain PostgreSQL (or the Apache licence) before has sensor_data_1m as a plain
-- view (sql/no-cagg/). CREATE MATERIALIZED VIEW IF NOT EXISTS in 002 would then skip silently and the
-- continuous aggregate would never exist: drop the plain view first. A continuous aggregate is left alone.
DO $$
BEGIN
    IF to_regclass('sensor_data_1m') IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM timescaledb_information.continuous_aggregates
        WHERE view_name = 'sensor_data_1m' AND view_schema = current_schema()) THEN
        DROP VIEW sensor_data_1m;
    END IF;
END
$$;

-- TimescaleDB (either licence): sensor_data becomes a hypertable partitioned by time. The interval here
-- is the initial one; timescale.chunk_interval is applied from code (set_chunk_time_interval, new chunks).
-- migrate_data moves rows written while the database was still plain PostgreSQL.
SELECT create_hypertable('sensor_data', 'time',
    chunk_time_interval => INTERVAL '1 day',
    if_not_exists => TRUE,
    migrate_data => TRUE);

-- TimescaleDB Community licence only: native compression of sensor_data chunks.
-- One compressed segment per machine (every read filters on machine_id), rows newest first inside it
-- (reads ask for the newest readings of a range). When chunks compress is a policy applied from code
-- (timescale.compress_after, src/write/timescale-setup.ts), because its age is configuration.
ALTER TABLE sensor_data SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'machine_id',
    timescaledb.compress_orderby = 'time DESC'
);

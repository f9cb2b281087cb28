-- TimescaleDB Community licence only: 1-minute buckets per machine, kept up to date by a refresh
-- policy (applied from code: timescale.cagg_refresh_*). materialized_only = false is real-time
-- aggregation: buckets newer than the last refresh are computed from sensor_data at query time, so
-- the newest readings show at once.
-- Per numeric column: sum and count (so avg over any number of whole minutes is exact: Σsum / Σcount,
-- not an average of averages), min, max, and last (value at the newest time in the minute); last
-- also for machine_state and active_program_line.
-- WITH NO DATA: creating with data cannot run inside the migration's transaction; the first full
-- refresh is done by timescale-setup.ts, once, after this commits.
CREATE MATERIALIZED VIEW IF NOT EXISTS sensor_data_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    machine_id,
    time_bucket(INTERVAL '1 minute', time) AS bucket,
    count(*) AS readings,
    sum(temperature) AS temperature_sum, count(temperature) AS temperature_n,
    min(temperature) AS temperature_min, max(temperature) AS temperature_max, last(temperature, time) AS temperature_last,
    sum(spindle_speed) AS spindle_speed_sum, count(spindle_speed) AS spindle_speed_n,
    min(spindle_speed) AS spindle_speed_min, max(spindle_speed) AS spindle_speed_max, last(spindle_speed, time) AS spindle_speed_last,
    sum(x_pos_mm) AS x_pos_mm_sum, count(x_pos_mm) AS x_pos_mm_n,
    min(x_pos_mm) AS x_pos_mm_min, max(x_pos_mm) AS x_pos_mm_max, last(x_pos_mm, time) AS x_pos_mm_last,
    sum(y_pos_mm) AS y_pos_mm_sum, count(y_pos_mm) AS y_pos_mm_n,
    min(y_pos_mm) AS y_pos_mm_min, max(y_pos_mm) AS y_pos_mm_max, last(y_pos_mm, time) AS y_pos_mm_last,
    sum(z_pos_mm) AS z_pos_mm_sum, count(z_pos_mm) AS z_pos_mm_n,
    min(z_pos_mm) AS z_pos_mm_min, max(z_pos_mm) AS z_pos_mm_max, last(z_pos_mm, time) AS z_pos_mm_last,
    sum(feed_rate_actual) AS feed_rate_actual_sum, count(feed_rate_actual) AS feed_rate_actual_n,
    min(feed_rate_actual) AS feed_rate_actual_min, max(feed_rate_actual) AS feed_rate_actual_max, last(feed_rate_actual, time) AS feed_rate_actual_last,
    sum(spindle_load_percent) AS spindle_load_percent_sum, count(spindle_load_percent) AS spindle_load_percent_n,
    min(spindle_load_percent) AS spindle_load_percent_min, max(spindle_load_percent) AS spindle_load_percent_max, last(spindle_load_percent, time) AS spindle_load_percent_last,
    sum(total_power_kw) AS total_power_kw_sum, count(total_power_kw) AS total_power_kw_n,
    min(total_power_kw) AS total_power_kw_min, max(total_power_kw) AS total_power_kw_max, last(total_power_kw, time) AS total_power_kw_last,
    last(machine_state, time) AS machine_state_last, last(active_program_line, time) AS active_program_line_last
FROM sensor_data
GROUP BY machine_id, bucket
WITH NO DATA;

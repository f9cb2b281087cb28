-- No continuous aggregate (plain PostgreSQL, TimescaleDB Apache licence): sensor_data_1m as a plain view
-- with the columns, types and meaning of the Community licence's continuous aggregate
-- (sql/timescale/community/002_sensor_data_1m.sql), so the bundled Grafana dashboard and anything else
-- reading 1-minute buckets run unchanged on every database mode. Computed at query time.
-- bucket is date_bin on a UTC origin: the same minutes as time_bucket; last(x, time) is the value at
-- the newest time in the minute (NULL when that reading had none), as TimescaleDB's last() gives.
-- A filter on bucket reaches sensor_data as a filter on this very expression, which an index on time
-- cannot serve: the expression gets a BRIN index of its own (1M rows, 1-hour window: 440–620 ms
-- sequential scan → 24–33 ms; see sql/postgres/001_sensor_data_time_brin.sql for BRIN vs B-tree).
CREATE INDEX IF NOT EXISTS sensor_data_bucket_1m_brin ON sensor_data
    USING brin ((date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00')));

CREATE OR REPLACE VIEW sensor_data_1m AS
SELECT
    machine_id,
    date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
    count(*) AS readings,
    sum(temperature) AS temperature_sum, count(temperature) AS temperature_n,
    min(temperature) AS temperature_min, max(temperature) AS temperature_max, (array_agg(temperature ORDER BY time DESC))[1] AS temperature_last,
    sum(spindle_speed) AS spindle_speed_sum, count(spindle_speed) AS spindle_speed_n,
    min(spindle_speed) AS spindle_speed_min, max(spindle_speed) AS spindle_speed_max, (array_agg(spindle_speed ORDER BY time DESC))[1] AS spindle_speed_last,
    sum(x_pos_mm) AS x_pos_mm_sum, count(x_pos_mm) AS x_pos_mm_n,
    min(x_pos_mm) AS x_pos_mm_min, max(x_pos_mm) AS x_pos_mm_max, (array_agg(x_pos_mm ORDER BY time DESC))[1] AS x_pos_mm_last,
    sum(y_pos_mm) AS y_pos_mm_sum, count(y_pos_mm) AS y_pos_mm_n,
    min(y_pos_mm) AS y_pos_mm_min, max(y_pos_mm) AS y_pos_mm_max, (array_agg(y_pos_mm ORDER BY time DESC))[1] AS y_pos_mm_last,
    sum(z_pos_mm) AS z_pos_mm_sum, count(z_pos_mm) AS z_pos_mm_n,
    min(z_pos_mm) AS z_pos_mm_min, max(z_pos_mm) AS z_pos_mm_max, (array_agg(z_pos_mm ORDER BY time DESC))[1] AS z_pos_mm_last,
    sum(feed_rate_actual) AS feed_rate_actual_sum, count(feed_rate_actual) AS feed_rate_actual_n,
    min(feed_rate_actual) AS feed_rate_actual_min, max(feed_rate_actual) AS feed_rate_actual_max, (array_agg(feed_rate_actual ORDER BY time DESC))[1] AS feed_rate_actual_last,
    sum(spindle_load_percent) AS spindle_load_percent_sum, count(spindle_load_percent) AS spindle_load_percent_n,
    min(spindle_load_percent) AS spindle_load_percent_min, max(spindle_load_percent) AS spindle_load_percent_max, (array_agg(spindle_load_percent ORDER BY time DESC))[1] AS spindle_load_percent_last,
    sum(total_power_kw) AS total_power_kw_sum, count(total_power_kw) AS total_power_kw_n,
    min(total_power_kw) AS total_power_kw_min, max(total_power_kw) AS total_power_kw_max, (array_agg(total_power_kw ORDER BY time DESC))[1] AS total_power_kw_last,
    (array_agg(machine_state ORDER BY time DESC))[1] AS machine_state_last,
    (array_agg(active_program_line ORDER BY time DESC))[1] AS active_program_line_last
FROM sensor_data
GROUP BY machine_id, bucket;

-- Core tables, in the shape of the original design (seed scripts/init.sql), plus the dead-letter table.
CREATE TABLE IF NOT EXISTS machines (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    location TEXT NOT NULL,
    controller_type TEXT,
    max_spindle_speed_rpm INTEGER,
    axis_count INTEGER,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    last_updated TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS sensor_data (
    time TIMESTAMPTZ NOT NULL,
    machine_id TEXT NOT NULL,
    temperature DOUBLE PRECISION NOT NULL,
    spindle_speed DOUBLE PRECISION NOT NULL,
    x_pos_mm DOUBLE PRECISION,
    y_pos_mm DOUBLE PRECISION,
    z_pos_mm DOUBLE PRECISION,
    feed_rate_actual DOUBLE PRECISION,
    spindle_load_percent DOUBLE PRECISION,
    machine_state TEXT,
    active_program_line INTEGER,
    total_power_kw DOUBLE PRECISION
);

-- Every read is "one machine, a time range, newest or oldest first".
CREATE INDEX IF NOT EXISTS sensor_data_machine_time_idx ON sensor_data (machine_id, time DESC);

-- One row per message that could not become a reading; the message is termed only after this row commits.
CREATE TABLE IF NOT EXISTS rejected_messages (
    id BIGSERIAL PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    subject TEXT NOT NULL,
    stream_seq BIGINT,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS rejected_messages_received_idx ON rejected_messages (received_at DESC, id DESC);

-- Alarm episodes (issue 12): one row per episode of a threshold rule on a machine, written by the
-- evaluator (src/alarms/) in the same transaction as the evaluation state that produced it.
CREATE TABLE IF NOT EXISTS alarms (
    id BIGSERIAL PRIMARY KEY,
    machine_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    field TEXT NOT NULL,
    comparison TEXT NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    -- Reading time of the first reading of the breach; the episode exists once it lasted min_duration.
    started_at TIMESTAMPTZ NOT NULL,
    -- Reading time of the first reading past the clear level; NULL while the episode is open.
    ended_at TIMESTAMPTZ,
    peak_value DOUBLE PRECISION NOT NULL,
    -- An episode is stored once, whatever redeliveries or restarts happen.
    UNIQUE (machine_id, rule, started_at)
);
CREATE INDEX IF NOT EXISTS alarms_started_idx ON alarms (started_at, id);
CREATE INDEX IF NOT EXISTS alarms_open_idx ON alarms (started_at, id) WHERE ended_at IS NULL;

-- Where evaluation of each (machine, rule) stands: readings up to `through` (reading time) are
-- accounted for. phase: idle | pending (breach since `since`, not yet min_duration) | active (alarm_id open).
CREATE TABLE IF NOT EXISTS alarm_state (
    machine_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    through TIMESTAMPTZ NOT NULL,
    phase TEXT NOT NULL,
    since TIMESTAMPTZ,
    peak DOUBLE PRECISION,
    alarm_id BIGINT,
    PRIMARY KEY (machine_id, rule)
);
